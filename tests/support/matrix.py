"""The configuration-matrix scenario: one run of every enqueue path on a configured app.

:func:`run_scenario` takes an app set up with ``init_app`` and a worker already consuming its
job queues (any broker, any configuration) and drives, in order: ``perform_later``,
``perform_all_later``, ``set(wait=1)``, a job that fails once and succeeds through
``retry_on``, a job that exhausts its attempts, becomes a dead letter and is retried from the
store, and a recurring run fired the way RedBeat fires it. It asserts that every job ran
exactly once (the flaky one twice: a failure, then its success) and nothing is lost, and
returns what the jobs saw so a row can check more (headers the worker received, ...).

    seen = run_scenario(app, run_worker)   # or a callable starting any other worker
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import current_task
from redbeat.schedulers import RedBeatSchedulerEntry

from activejob_celery import ApplicationJob, perform_all_later, retry_on
from activejob_celery.dead_letters import store_for
from activejob_celery.errors import ConfigurationError
from activejob_celery.recurring import schedule_recurring_task
from activejob_celery.recurring.store import redis_key
from activejob_celery.recurring.tasks import TASK_NAME
from activejob_celery.scheduler import scheduled_set_for
from tests.support.worker import run_worker, wait_for

EnqueueContext = Callable[[], contextlib.AbstractContextManager[Any]]
StartWorker = Callable[[Any], contextlib.AbstractContextManager[Any]]


class MatrixFlakyError(Exception):
    """Raised by the scenario's failing jobs."""


@dataclass
class Run:
    """One run of a scenario job, as the worker saw it."""

    token: str
    ok: bool
    job_id: str
    headers: dict[str, Any]


@dataclass
class Runs:
    """Every run of the scenario's jobs (thread-safe)."""

    runs: list[Run] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, token: str, job: ApplicationJob, ok: bool) -> None:
        request = current_task.request
        headers = dict(request.get("headers") or {}) if request is not None else {}
        with self.lock:
            self.runs.append(Run(token, ok, job.job_id, headers))

    def tokens(self, *, ok: bool | None = None) -> Counter[str]:
        with self.lock:
            return Counter(run.token for run in self.runs if ok is None or run.ok is ok)


def run_scenario(
    app: Any,
    worker: StartWorker = run_worker,
    *,
    enqueue_context: EnqueueContext = contextlib.nullcontext,
    timeout: float = 30,
) -> Runs:
    """Drive every enqueue path on ``app`` with ``worker(app)`` running; assert exactly once.

    The job classes are defined first, then the worker starts (a worker knows the tasks
    registered when it starts). ``enqueue_context`` wraps each single enqueue (a Sentry
    transaction per request, ...).
    """
    runs = Runs()
    broken = [True]

    class MatrixJob(ApplicationJob):
        def perform(self, token: str) -> None:
            runs.add(token, self, ok=True)

    class MatrixFlakyJob(ApplicationJob):
        retry_on(MatrixFlakyError, wait=1, attempts=3, jitter=0)

        def perform(self, token: str) -> None:
            first = self.executions <= 1
            runs.add(token, self, ok=not first)
            if first:
                raise MatrixFlakyError("fails once")

    class MatrixDeadJob(ApplicationJob):
        retry_on(MatrixFlakyError, wait=0, attempts=2, jitter=0)

        def perform(self, token: str) -> None:
            runs.add(token, self, ok=not broken)
            if broken:
                raise MatrixFlakyError("broken until fixed")

    with worker(app):
        expected = _drive(app, runs, broken, (MatrixJob, MatrixFlakyJob, MatrixDeadJob),
                          enqueue_context, timeout)  # fmt: skip
    # The worker has stopped: no late duplicate arrived, nothing waits or lies dead.
    assert runs.tokens(ok=True) == expected
    assert runs.tokens(ok=False) == Counter({"flaky-0": 1, "dead-0": 2})
    assert store_for(app).count() == 0
    with contextlib.suppress(ConfigurationError):  # rows without a scheduled set
        assert scheduled_set_for(app).count() == 0
    return runs


def _drive(
    app: Any,
    runs: Runs,
    broken: list[bool],
    classes: tuple[type[ApplicationJob], ...],
    enqueue_context: EnqueueContext,
    timeout: float,
) -> Counter[str]:
    job_class, flaky_class, dead_class = classes
    later = [f"later-{n}" for n in range(3)]
    for token in later:
        with enqueue_context():
            assert job_class.perform_later(token).successfully_enqueued
    bulk = [job_class(f"bulk-{n}") for n in range(5)]
    perform_all_later(bulk)
    assert all(job.successfully_enqueued for job in bulk)
    with enqueue_context():
        assert job_class.set(wait=1).perform_later("wait-0").successfully_enqueued
        assert flaky_class.perform_later("flaky-0").successfully_enqueued
        dead = dead_class.perform_later("dead-0")
    assert dead.successfully_enqueued
    key = f"matrix-{job_class.job_name}"
    schedule_recurring_task(
        key, job=job_class, schedule="every day at 9am", args=["recurring-0"], app=app
    )
    _fire_as_redbeat(app, key)

    store = store_for(app)

    def dead_letter() -> Any:
        letters = [letter for letter in store.list() if letter.job_id == dead.job_id]
        return letters[0] if letters else None

    letter = wait_for(dead_letter, timeout, message="the exhausted job's dead letter")
    assert letter.reason == "exhausted"
    broken.clear()
    store.retry(letter.id)
    expected_ok = Counter(later + [job.arguments[0] for job in bulk] + ["wait-0", "flaky-0"])
    expected_ok.update(["dead-0", "recurring-0"])
    wait_for(lambda: runs.tokens(ok=True) == expected_ok, timeout, message="every job's run")
    assert store.get(letter.id) is None
    return expected_ok


def _fire_as_redbeat(app: Any, key: str) -> None:
    """What RedBeat's scheduler does when entry ``key`` is due: apply its task with its options."""
    from activejob_celery.recurring import _settings_for

    prefix = _settings_for(app).recurring_key_prefix
    entry = RedBeatSchedulerEntry.from_key(redis_key(app, prefix, key), app=app)
    assert entry.task == TASK_NAME
    app.tasks[entry.task].apply_async(entry.args, entry.kwargs, **entry.options)
