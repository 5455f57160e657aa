"""Job test fixtures: ``pytest_plugins = ["activejob_celery.testing.pytest_plugin"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..adapters.testing import Record, TestAdapter
from .swap import restore_adapters, use_test_adapter
from .testcase import TestHelper

# Every name starts with "activejob": celery.contrib.pytest and pytest-celery own "celery_*" and
# "default_*", and a bare "enqueued_jobs" fixture would shadow the helper function of that name.
# The plugin has fixtures only, no hooks, so a nested conftest.py can import them instead.


@pytest.fixture
def activejob_adapter() -> Iterator[TestAdapter]:
    """A fresh test adapter that every job class uses during the test.

    Example:
        >>> def test_enqueues(activejob_adapter):               # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "hi")
        ...     assert activejob_adapter.enqueued_jobs[0]["job"] is NotificationJob
    """
    adapter = use_test_adapter()
    try:
        yield adapter
    finally:
        restore_adapters()


@pytest.fixture
def activejob(activejob_adapter: TestAdapter) -> TestHelper:
    """The helpers as methods (``activejob.assert_enqueued_with(...)``), on the test adapter.

    Example:
        >>> def test_performs(activejob):                      # doctest: +SKIP
        ...     activejob.assert_performed_jobs(1, block=lambda: HelloJob.perform_later())
    """
    return TestHelper()


@pytest.fixture
def activejob_enqueued_jobs(activejob_adapter: TestAdapter) -> list[Record]:
    """The live list of records of the jobs enqueued in this test.

    Example:
        >>> def test_args(activejob_enqueued_jobs):            # doctest: +SKIP
        ...     HelloJob.perform_later("david")
        ...     assert activejob_enqueued_jobs[0]["args"] == ["david"]
    """
    return activejob_adapter.enqueued_jobs


@pytest.fixture
def activejob_performed_jobs(activejob_adapter: TestAdapter) -> list[Record]:
    """The live list of records of the jobs performed in this test.

    Example:
        >>> def test_ran(activejob, activejob_performed_jobs):  # doctest: +SKIP
        ...     activejob.perform_enqueued_jobs(block=lambda: HelloJob.perform_later())
        ...     assert len(activejob_performed_jobs) == 1
    """
    return activejob_adapter.performed_jobs
