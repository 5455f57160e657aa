"""One real worker per seed test module (tests/seeds/): a private Redis, an app, a buffer.

Starting a worker per test would cost seconds each; the seed modules share one per module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery

from tests.support.fixtures import JobBuffer, make_app
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker, wait_for

BUFFER = JobBuffer()
"""What the seed jobs record when they run (Rails' ``JobBuffer``); cleared before each test."""


@dataclass
class SeedWorker:
    """The module's app, its Redis server and the running in-process worker."""

    app: Celery
    server: RedisServer
    worker: Any

    def wait_for_values(self, count: int, timeout: float = 30.0) -> list[Any]:
        """Wait until the buffer holds at least ``count`` values; return them all."""
        return wait_for(
            lambda: BUFFER.values if len(BUFFER.values) >= count else None,
            timeout,
            message=f"{count} values in the seed buffer (have {BUFFER.values!r})",
        )

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll ``predicate`` with a generous timeout (the machine may be loaded)."""
        return wait_for(predicate, timeout)


@contextlib.contextmanager
def seed_worker(queues: Sequence[str]) -> Iterator[SeedWorker]:
    """A private redis-server, an app with ``init_app`` and a solo worker on ``queues``."""
    # Generous start and stop limits: five engineers share two cores.
    with RedisServer.start_private(startup_timeout=60.0) as server:
        app = make_app(server.url(1))
        try:
            with run_worker(app, queues=queues, shutdown_timeout=60.0) as worker:
                yield SeedWorker(app=app, server=server, worker=worker)
        finally:
            app.close()


def asgi_get(
    app: Any, path: str, *, basic_auth: tuple[str, str] | None = None
) -> tuple[int, bytes]:
    """GET ``path`` from an ASGI app (no HTTP client needed); returns (status, body)."""
    headers = [(b"host", b"jobs.example.com")]
    if basic_auth is not None:
        token = base64.b64encode(":".join(basic_auth).encode())
        headers.append((b"authorization", b"Basic " + token))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("203.0.113.9", 50000),
        "server": ("jobs.example.com", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body
