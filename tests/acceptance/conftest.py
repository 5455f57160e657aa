"""Fixtures for the Rails behaviour tables: a test adapter, a frozen clock, a stubbed ``rand``.

Rails' own tests freeze time (``travel_to``) and stub ``Kernel.rand``; these fixtures do the same
for the two places that read them: ``enqueuing.datetime.now`` and ``backoff.random.random``.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from activejob_celery import config, enqueuing
from activejob_celery.testing import TestAdapter
from tests.acceptance.clock import FROZEN_NOW, FrozenDatetime


@pytest.fixture
def aj_frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Freeze the clock enqueuing reads, so ``scheduled_at - now`` is the exact delay."""
    monkeypatch.setattr(enqueuing, "datetime", FrozenDatetime)
    return FROZEN_NOW


@pytest.fixture
def aj_rand(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """``aj_rand(1.0)`` makes the jitter's ``U`` that value (Rails ``Kernel.stub(:rand, 1)``)."""

    def stub(value: float) -> None:
        monkeypatch.setattr(random, "random", lambda: value)

    return stub


@pytest.fixture
def aj_jitter() -> Callable[[float], None]:
    """``aj_jitter(4.0)`` sets ``activejob_retry_jitter`` (Rails ``ActiveJob::Base.retry_jitter=``).

    ``aj_isolation`` restores the settings after the test.
    """

    def use(value: float) -> None:
        config.use_settings(dataclasses.replace(config.current_settings(), retry_jitter=value))

    return use


@pytest.fixture
def aj_inline_adapter() -> TestAdapter:
    """A test adapter that performs every enqueue at once, retries included (Rails' test setup)."""
    adapter = TestAdapter()
    adapter.perform_enqueued_jobs = True
    adapter.perform_enqueued_at_jobs = True
    return adapter


@pytest.fixture
def aj_recording_adapter() -> TestAdapter:
    """A test adapter that only records enqueues (``adapter.enqueued_jobs``)."""
    return TestAdapter()


@pytest.fixture
def aj_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """The Rails log lines of the ``activejob_celery`` logger, tags stripped."""
    caplog.set_level(logging.INFO, logger="activejob_celery")

    def lines() -> list[str]:
        messages = [r.getMessage() for r in caplog.records if r.name == "activejob_celery"]
        return [_untag(message) for message in messages]

    yield lines


def _untag(message: str) -> str:
    while message.startswith("["):
        message = message.split("] ", 1)[1]
    return message
