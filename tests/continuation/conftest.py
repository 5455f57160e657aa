"""A test adapter for every continuation test, and the Rails log lines of the run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from activejob_celery import log_subscriber
from activejob_celery.testing import TestAdapter, restore_adapters, use_test_adapter


@pytest.fixture
def adapter() -> Iterator[TestAdapter]:
    """Jobs are recorded; ``perform_enqueued_jobs()`` runs them one round at a time."""
    chosen = use_test_adapter()
    try:
        yield chosen
    finally:
        restore_adapters()


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything the ``activejob_celery`` logger said, one line each, tags stripped."""
    log_subscriber.attach()
    caplog.set_level(logging.INFO, logger="activejob_celery")

    def text() -> str:
        lines = []
        for record in caplog.records:
            if record.name != "activejob_celery":
                continue
            message = record.getMessage()
            while message.startswith("["):
                message = message.split("] ", 1)[1]
            lines.append(message)
        return "\n".join(lines)

    yield text
