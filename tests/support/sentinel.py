"""One master, one replica and one Sentinel on loopback, for tests on a ``sentinel://`` broker.

    with SentinelCluster.start_private() as cluster:
        app = make_app(cluster.broker_url(1), broker_transport_options=cluster.transport_options())
        cluster.failover()  # SIGKILL the master; returns once the Sentinel names the replica

The Sentinel notices a dead master after ``down_after_ms`` (1 s) and promotes the replica at
once (quorum 1); every process is killed at teardown.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import HOST, RedisServer

__all__ = ["MASTER_NAME", "SentinelCluster"]

MASTER_NAME = "mymaster"
_NO_SYNC_DELAY = ("--repl-diskless-sync-delay", "0")  # Redis waits 5 s for more replicas


class SentinelCluster:
    """A master, a replica of it and a Sentinel monitoring it, each a private redis-server."""

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 2000,
    ) -> None:
        """Prepare the cluster; nothing runs until :meth:`start`."""
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp("-sentinel"))
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.master = RedisServer(workdir=self._dir("master"), extra_args=_NO_SYNC_DELAY)
        self.replica: RedisServer | None = None
        self.sentinel: RedisServer | None = None
        self.failed_over = False

    # ------------------------------------------------------------------ addresses

    def broker_url(self, db: int = 0) -> str:
        """``sentinel://127.0.0.1:PORT/db``: kombu's Sentinel transport URL."""
        assert self.sentinel is not None, "cluster not started"
        return f"sentinel://{HOST}:{self.sentinel.port}/{db}"

    def transport_options(self) -> dict[str, Any]:
        """The ``broker_transport_options`` kombu's Sentinel transport needs."""
        return {"master_name": MASTER_NAME}

    def current_master(self) -> RedisServer:
        """The server that is master now (the replica after :meth:`failover`)."""
        if self.failed_over:
            assert self.replica is not None
            return self.replica
        return self.master

    def sentinel_client(self) -> redis.Redis:
        """A client of the Sentinel itself (the caller closes it)."""
        assert self.sentinel is not None, "cluster not started"
        return self.sentinel.client()

    def master_port(self) -> int:
        """The master's port as the Sentinel reports it now."""
        with self.sentinel_client() as client:
            _host, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return int(port)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SentinelCluster:
        """Start the three servers; return once the Sentinel knows a healthy replica."""
        self.master.start()
        replica_of = (*_NO_SYNC_DELAY, "--replicaof", HOST, str(self.master.port))
        self.replica = RedisServer(workdir=self._dir("replica"), extra_args=replica_of).start()
        config = self._dir("sentinel") / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {MASTER_NAME} {HOST} {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.sentinel = RedisServer(
            workdir=config.parent, config_file=config, extra_args=("--sentinel",)
        ).start()
        self._wait(self._replica_known, "the Sentinel to see a synced replica")
        return self

    def failover(self, timeout: float = 30.0) -> RedisServer:
        """SIGKILL the master; return the replica once the Sentinel reports it as master.

        The master first waits until the replica has every write (``WAIT``), so a test loses
        nothing it wrote before the failover (Redis replicates asynchronously: a write the
        replica has not received is lost with the master, by design).
        """
        assert self.replica is not None and not self.failed_over, "start() first, and only once"
        with self.master.client() as client:
            # WAIT only waits for the writes of its own connection: write first, so the offset it
            # waits for covers every write any client made before this point.
            client.incr("sentinel-test:failover")
            acked = client.execute_command("WAIT", 1, 5000)
            assert acked >= 1, "the replica did not acknowledge the master's writes in 5 s"
        self.master.kill()
        replica_port = self.replica.port
        self._wait(lambda: self.master_port() == replica_port, "the replica's promotion", timeout)
        self.failed_over = True
        return self.replica

    def close(self) -> None:
        """Kill every server and remove the working directory if this object made it."""
        for server in (self.sentinel, self.replica, self.master):
            if server is not None:
                server.kill()
                server.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @classmethod
    @contextlib.contextmanager
    def start_private(cls, **kwargs: Any) -> Iterator[SentinelCluster]:
        """Run a cluster for the duration of a ``with`` block."""
        cluster = cls(**kwargs)
        try:
            yield cluster.start()
        finally:
            cluster.close()

    # ------------------------------------------------------------------ internals

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _replica_known(self) -> bool:
        assert self.replica is not None
        with self.replica.client() as client:
            if client.info("replication").get("master_link_status") != "up":
                return False
        with self.sentinel_client() as client:
            replicas = client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
        return any(_fields(entry).get("flags") == "slave" for entry in replicas)

    def _wait(self, ready: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                logs = "\n".join(
                    server.log_text()[-2000:]
                    for server in (self.sentinel, self.replica, self.master)
                    if server is not None
                )
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
            time.sleep(0.05)


def _fields(entry: Any) -> dict[str, str]:
    # SENTINEL REPLICAS answers a flat [name, value, ...] list per replica (RESP2).
    if isinstance(entry, dict):
        return {_text(key): _text(value) for key, value in entry.items()}
    return {_text(entry[i]): _text(entry[i + 1]) for i in range(0, len(entry) - 1, 2)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
