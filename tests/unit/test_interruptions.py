"""Run marks in memory, the store-down backoff and the interruption setting (no broker)."""

from __future__ import annotations

import pytest

from activejob_celery import ActiveJobError, ConfigurationError, JobInterruptedError, Settings
from activejob_celery.dead_letters.recorder import backoff_delay
from activejob_celery.failures import REASONS
from activejob_celery.interruptions import MemoryLedger, Start


def test_a_mark_left_by_the_same_message_counts_an_interruption():
    ledger = MemoryLedger(Settings())
    assert ledger.start("job-1", "task-a") == Start(interrupted=False, interruptions=0)
    assert ledger.start("job-1", "task-a") == Start(interrupted=True, interruptions=1)
    ledger.finish("job-1", "task-a", done=False)  # handled (retried): the count stays
    assert ledger.start("job-1", "task-b") == Start(interrupted=False, interruptions=1)
    assert ledger.start("job-1", "task-b") == Start(interrupted=True, interruptions=2)
    ledger.finish("job-1", "task-b", done=True)  # over for good: forgotten
    assert ledger.start("job-1", "task-b") == Start(interrupted=False, interruptions=0)


def test_backoff_grows_and_is_capped():
    assert [backoff_delay(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert backoff_delay(9) == 300.0
    assert backoff_delay(10_000) == 300.0


def test_max_interruptions_setting_and_killed_reason():
    assert Settings().max_interruptions == 3
    with pytest.raises(ConfigurationError, match="activejob_max_interruptions"):
        Settings(max_interruptions=0)
    assert issubclass(JobInterruptedError, ActiveJobError)
    assert "killed" in REASONS
