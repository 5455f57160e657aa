"""A worker's retry publishes under the run's task id: what that must not break."""

from __future__ import annotations

import time
from typing import Any

from activejob_celery import ApplicationJob
from activejob_celery.interruptions import Start, ledger_for, run_id
from activejob_celery.scheduler import scheduled_set_for
from tests.integration.test_scheduler_claims import aj_other_db
from tests.support.fixtures import make_app

__all__ = ["aj_other_db"]


def test_an_entry_stored_again_under_its_member_while_published_is_kept(
    aj_redis: Any, aj_other_db: Any, monkeypatch: Any
) -> None:
    """Envelope mode: the poller publishes a due job through Celery, a worker runs it at once and
    its retry (same job id, same task id, so the same member) is stored before the poller
    acknowledges; the acknowledgement must not delete the retry's entry."""
    other_url, other = aj_other_db
    app = make_app(aj_redis.url, activejob_scheduler_url=other_url)

    class QuickRetryJob(ApplicationJob):
        def perform(self) -> None:
            pass

    first = QuickRetryJob.set(wait=0.2).perform_later()
    scheduled = scheduled_set_for(app)
    assert not scheduled.direct
    [(member, old_value)] = other.hgetall("activejob:scheduled:entries").items()
    publish_one = scheduled._publish_one

    def publish_then_retry(member_: str, value: bytes, producer: Any, eta: Any) -> None:
        publish_one(member_, value, producer, eta)
        retry = QuickRetryJob()
        retry.job_id, retry._run_task_id = first.job_id, first.provider_job_id
        retry._retrying = True  # as retry_job sets it
        try:
            retry.enqueue(wait=60)
        finally:
            retry._retrying = False
        assert retry.provider_job_id == first.provider_job_id

    monkeypatch.setattr(scheduled, "_publish_one", publish_then_retry)
    assert scheduled.release(now=time.time() + 1).released == 1
    entries = other.hgetall("activejob:scheduled:entries")
    assert list(entries) == [member] and entries[member] != old_value
    assert other.zrange("activejob:scheduled", 0, -1) == [member]
    assert other.zcard("activejob:scheduled:claims") == 0
    assert [job.job_id for job in scheduled.list()] == [first.job_id]
    app.close()


def test_a_retry_under_the_runs_task_id_is_a_new_run_for_the_run_marks(aj_app: Any) -> None:
    """The retry's run may start before the failed run's mark is cleared (a retry with no wait
    on another worker): it is not an interruption, and the late clearing of the first run's mark
    does not clear the retry's, so a crash of the retry's run is still seen."""
    ledger = ledger_for(aj_app)
    assert ledger is not None
    first, retry = run_id("task-1", 0), run_id("task-1", 1)
    assert first != retry
    assert ledger.start("job-1", first) == Start(interrupted=False, interruptions=0)
    assert ledger.start("job-1", retry) == Start(interrupted=False, interruptions=0)
    ledger.finish("job-1", first, done=False)  # the first run's end lands late
    # The retry's process dies; its message comes back: an interruption, counted once.
    assert ledger.start("job-1", retry) == Start(interrupted=True, interruptions=1)
