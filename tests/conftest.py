"""Shared fixtures: a private Redis for the whole session and a clean database per test.

Fixture names start with ``aj_`` so they never collide with ``celery.contrib.pytest`` or
pytest-celery (``celery_app``, ``celery_worker``, ``celery_config``, ...). Do not define any
``celery_*`` fixture in this project.

A missing redis-server is a failure, never a skip: install one or set ``REDIS_SERVER_BIN``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import (
    RedisServer,
    RedisServerNotFoundError,
    find_redis_server,
    forget_stale_pools,
)
from tests.support.requirements import chromium_path, in_ci, redis_supports_tls

# Job-level fixtures (aj_app, aj_worker, aj_isolation, ...) live in tests/support/fixtures.py.
pytest_plugins = ["tests.support.fixtures"]

_TESTS_DIR = Path(__file__).parent


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        redis_line = f"redis-server: {find_redis_server()} (TLS: {redis_supports_tls()})"
    except RedisServerNotFoundError:
        redis_line = "redis-server: NOT FOUND (tests using Redis will fail)"
    # Tests needing a missing tool skip with the reason (-ra); under CI=true they fail.
    tools = {"chromium": chromium_path(), "openssl": shutil.which("openssl")}
    found = ", ".join(f"{name}: {path or 'missing'}" for name, path in tools.items())
    return [redis_line, f"{found}; missing tools {'fail' if in_ci() else 'skip'} their tests"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    integration_dir = _TESTS_DIR / "integration"
    for item in items:
        if integration_dir in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def aj_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for the session. Tests may stop/kill/restart it (same port)."""
    try:
        binary = find_redis_server()
    except RedisServerNotFoundError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # fail outside the except block: no chained traceback noise
        where = "CI (CI is set): Redis is required" if os.environ.get("CI") else "this machine"
        pytest.fail(f"No redis-server on {where}.\n{problem}", pytrace=False)
    server = RedisServer(binary, workdir=tmp_path_factory.mktemp("redis-server"))
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class RedisDB:
    """One flushed database of the session server, handed to a single test."""

    server: RedisServer
    db: int
    url: str
    client: redis.Redis


_DB_NUMBERS = cycle(range(1, 16))  # db 0 is left alone; `databases` defaults to 16


@pytest.fixture
def aj_redis(aj_redis_server: RedisServer) -> Iterator[RedisDB]:
    """A clean database (1..15, round robin, FLUSHDB before use) on the session server."""
    if not aj_redis_server.is_running:  # a previous test stopped it and did not restart it
        aj_redis_server.start()
    forget_stale_pools(aj_redis_server)
    db = next(_DB_NUMBERS)
    client = aj_redis_server.client(db)
    client.flushdb()
    try:
        yield RedisDB(server=aj_redis_server, db=db, url=aj_redis_server.url(db), client=client)
    finally:
        client.close()
