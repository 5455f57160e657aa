"""A private PostgreSQL server (``initdb`` + ``postgres``) on a free loopback port, for tests.

Standalone (standard library only) so examples and benchmarks can load it by path::

    with PostgresServer.start_private() as server:
        url = server.url("postgresql+psycopg")   # SQLAlchemy; server.dsn() for psycopg/Django

The binaries are looked for in ``$POSTGRES_BIN_DIR``, on ``PATH``, in ``/usr/local/bin`` and in
Debian's ``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root: as root the
server runs as the ``nobody`` user (through ``runuser``/``setpriv``) in a directory it owns.
:func:`postgres_problem` says why no server can start here, for a one-line skip.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresServer", "find_postgres_bin", "postgres_problem"]

HOST = "127.0.0.1"
USER = "aj"
DATABASE = "postgres"
INSTALL_HINT = "apt-get install -y postgresql (as root), or set POSTGRES_BIN_DIR"
RUN_AS = "nobody"


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None."""
    candidates = [os.environ.get("POSTGRES_BIN_DIR", "")]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates.append("/usr/local/bin")
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for directory in candidates:
        if directory and all(
            os.access(os.path.join(directory, name), os.X_OK) for name in ("initdb", "postgres")
        ):
            return Path(directory)
    return None


def _drop_privileges() -> list[str]:
    """The command prefix that runs a program as :data:`RUN_AS` (empty when not root)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", RUN_AS, "--"]
    if shutil.which("setpriv"):
        entry = pwd.getpwnam(RUN_AS)
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    raise RuntimeError("running as root without runuser or setpriv to start PostgreSQL as nobody")


def postgres_problem() -> str | None:
    """Why no private server can start on this machine (None when one can)."""
    if find_postgres_bin() is None:
        return f"PostgreSQL is not installed ({INSTALL_HINT})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
            _drop_privileges()
        except (KeyError, RuntimeError) as error:
            return f"PostgreSQL refuses root and it cannot run as {RUN_AS}: {error}"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


_LIVE: set[PostgresServer] = set()


@atexit.register
def _stop_leftovers() -> None:  # a crashed test run must not leave servers behind
    for server in list(_LIVE):
        server.stop()


class PostgresServer:
    """One private server with a trust-authenticated superuser ``aj`` (database ``postgres``)."""

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        """Choose a port and a directory; nothing runs until :meth:`start`."""
        self.port = _free_port()
        self.startup_timeout = startup_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="aj-postgres-"))
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def start_private(cls) -> Iterator[PostgresServer]:
        """Start a server, yield it, stop it and remove its files."""
        server = cls()
        try:
            server.start()
            yield server
        finally:
            server.stop()

    def dsn(self, database: str = DATABASE) -> str:
        """A libpq connection string (psycopg, Django's OPTIONS)."""
        return f"host={HOST} port={self.port} user={USER} dbname={database}"

    def url(self, driver: str = "postgresql+psycopg", database: str = DATABASE) -> str:
        """A URL for SQLAlchemy's ``create_engine``."""
        return f"{driver}://{USER}@{HOST}:{self.port}/{database}"

    def start(self) -> None:
        """initdb, start ``postgres`` and wait until it accepts connections."""
        binaries = find_postgres_bin()
        if binaries is None:
            raise RuntimeError(f"PostgreSQL is not installed ({INSTALL_HINT})")
        prefix = _drop_privileges()
        data = self.directory / "data"
        if prefix:
            entry = pwd.getpwnam(RUN_AS)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        log = open(self.directory / "postgres.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
             "--no-sync", "-E", "UTF8"],
            check=True, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [*prefix, str(binaries / "postgres"), "-D", str(data), "-h", HOST,
             "-p", str(self.port), "-k", str(self.directory), "-F",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _LIVE.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start; see {self.directory}/postgres.log")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                pass
        except OSError:
            return False
        return (self.directory / "data" / "postmaster.pid").exists()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(2)  # SIGINT: fast shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _LIVE.discard(self)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
