"""Seed tests: one worker per module (started before any test of it), a fresh buffer per test.

A module lists the queues its jobs use in ``QUEUES``; the worker consumes those.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activejob_celery.testing import TestAdapter, restore_adapters, use_test_adapter
from tests.support.fixtures import isolated_state
from tests.support.seeds import BUFFER, SeedWorker, seed_worker


@pytest.fixture(scope="module", autouse=True)
def seed(request: pytest.FixtureRequest) -> Iterator[SeedWorker]:
    """The module's real worker (module scope: set up before the per-test isolation saves
    state).
    """
    queues = getattr(request.module, "QUEUES", ["default"])
    with isolated_state(), seed_worker(queues) as worker:  # nothing leaks to later modules
        yield worker


@pytest.fixture(autouse=True)
def seed_buffer() -> None:
    """Start every test with an empty buffer."""
    BUFFER.clear()


@pytest.fixture
def adapter() -> Iterator[TestAdapter]:
    """The test adapter, for seeds that only enqueue or configure (``ActiveJob::TestCase``)."""
    test_adapter = use_test_adapter()
    yield test_adapter
    restore_adapters()
