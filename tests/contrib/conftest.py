"""Django is configured (SQLite files in a temp dir) before any test module here imports it."""

from collections.abc import Iterator

import pytest

from tests.contrib import django_setup  # noqa: F401
from tests.support.postgres import PostgresServer, postgres_problem
from tests.support.requirements import need


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server (skips locally, fails under CI=true, when none can start)."""
    problem = postgres_problem()
    need(problem is None, f"no PostgreSQL server can start here: {problem}")
    with PostgresServer.start_private() as server:
        yield server
