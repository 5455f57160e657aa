"""One real worker per seed test module (tests/seeds/): a private Redis, an app, a buffer.

Starting a worker per test would cost seconds each; the seed modules share one per module.
"""

from __future__ import annotations

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
    with RedisServer.start_private() as server:
        app = make_app(server.url(1))
        try:
            with run_worker(app, queues=queues) as worker:
                yield SeedWorker(app=app, server=server, worker=worker)
        finally:
            app.close()
