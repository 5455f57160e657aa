"""A private RabbitMQ node on free loopback ports, for tests that need an AMQP broker.

Standalone (standard library plus kombu) so that examples and benchmarks can load it by path::

    with RabbitMQNode.start_private() as node:
        broker_url = node.url

Everything the node writes (database, logs, Erlang cookie, its own ``epmd`` on a private port)
lives in one temporary directory. The node runs Debian's ``rabbitmq-server`` script directly
(``/usr/lib/rabbitmq/bin/rabbitmq-server``), not the ``/usr/sbin`` wrapper, which switches to the
``rabbitmq`` user and drops the environment. :func:`rabbitmq_problem` says why a node cannot
start here (no package, not root), for a one-line skip.
"""

from __future__ import annotations

import atexit
import contextlib
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

__all__ = ["RabbitMQNode", "find_rabbitmq_server", "rabbitmq_problem"]

HOST = "127.0.0.1"
SERVER_CANDIDATES = (
    "/usr/lib/rabbitmq/bin/rabbitmq-server",
    "/usr/sbin/rabbitmq-server",
)
INSTALL_HINT = "apt-get install -y rabbitmq-server (as root)"


def find_rabbitmq_server() -> str | None:
    """The ``rabbitmq-server`` script to run, or None when RabbitMQ is not installed."""
    explicit = os.environ.get("RABBITMQ_SERVER_BIN")
    for candidate in (explicit, *SERVER_CANDIDATES):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def rabbitmq_problem() -> str | None:
    """Why no private node can start on this machine (None when one can)."""
    if find_rabbitmq_server() is None:
        return f"RabbitMQ is not installed ({INSTALL_HINT})"
    if shutil.which("erl") is None:
        return f"Erlang (erl) is not on PATH ({INSTALL_HINT})"
    return None


def _free_port(avoid: set[int] | None = None) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in (avoid or set()):
            return port


_LIVE: set[RabbitMQNode] = set()


@atexit.register
def _stop_leftovers() -> None:  # a crashed test run must not leave nodes behind
    for node in list(_LIVE):
        node.stop(timeout=5.0)


class RabbitMQNode:
    """One private RabbitMQ node (user ``guest``, vhost ``/``); start, then stop at teardown."""

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        """Choose ports and a working directory; nothing runs until :meth:`start`."""
        server = find_rabbitmq_server()
        if server is None:
            raise RuntimeError(f"RabbitMQ is not installed ({INSTALL_HINT})")
        self.server = server
        self.port = _free_port()
        self.dist_port = _free_port({self.port})
        self.epmd_port = _free_port({self.port, self.dist_port})
        self.nodename = f"aj-{self.port}@localhost"
        self.workdir = Path(tempfile.mkdtemp(prefix="aj-rabbitmq-"))
        self.log_path = self.workdir / "node.log"
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The AMQP broker URL of this node."""
        return f"amqp://guest:guest@{HOST}:{self.port}//"

    def env(self) -> dict[str, str]:
        """The environment the node and ``rabbitmq-diagnostics`` for it run with."""
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        plugins = self.workdir / "enabled_plugins"
        if not plugins.exists():
            plugins.write_text("[].\n")
        return {
            **os.environ,
            "HOME": str(home),  # the Erlang cookie
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),  # a private epmd, stopped with the node
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.workdir / "advanced.config"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbitmq.pid"),
        }

    @property
    def is_running(self) -> bool:
        """Whether the node's process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RabbitMQNode:
        """Start the node and wait until an AMQP connection works.

        Raises:
            RuntimeError: the node exited or did not answer within ``startup_timeout``.
        """
        if self.is_running:
            return self
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [self.server],
                env=self.env(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one at teardown
            )
        _LIVE.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_text()[-3000:]
                self.stop()
                raise RuntimeError(f"RabbitMQ node {self.nodename} did not start:\n{tail}")
            time.sleep(0.25)
        return self

    def ping(self) -> bool:
        """``rabbitmq-diagnostics -n NODE ping`` succeeded."""
        diagnostics = Path(self.server).with_name("rabbitmq-diagnostics")
        done = subprocess.run(
            [str(diagnostics), "-n", self.nodename, "ping"],
            env=self.env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        return done.returncode == 0

    def connection(self, **options: Any) -> Any:
        """A new kombu connection to this node (the caller releases it)."""
        import kombu

        return kombu.Connection(self.url, connect_timeout=2, **options)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the node, then SIGKILL its process group; stop its private epmd."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            self._proc = None
        self._stop_epmd()
        _LIVE.discard(self)

    def close(self) -> None:
        """Stop the node and remove its directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        """What the node logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @classmethod
    @contextlib.contextmanager
    def start_private(cls, **kwargs: Any) -> Iterator[RabbitMQNode]:
        """Run a private node for the duration of a ``with`` block."""
        node = cls(**kwargs)
        try:
            yield node.start()
        finally:
            node.close()

    def __repr__(self) -> str:
        return f"<RabbitMQNode {self.nodename} {self.url} running={self.is_running}>"

    def _answers(self) -> bool:
        try:
            with self.connection() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
                return True
        except Exception:
            return False

    def _stop_epmd(self) -> None:
        # epmd daemonises out of the node's process group; only this port's epmd is ours.
        epmd = shutil.which("epmd")
        if epmd is None:
            return
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [epmd, "-port", str(self.epmd_port), "-kill"],
                env=self.env(),
                capture_output=True,
                timeout=10,
                check=False,
            )
