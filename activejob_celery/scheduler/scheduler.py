"""``RedisScheduler``: ``set(wait=...)`` and retries go to the scheduled set, not to Celery ETA."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import EnqueueError
from .entries import encode_direct, encode_envelope, member_for

if TYPE_CHECKING:
    from ..adapters.celery import CeleryAdapter
    from ..base import ApplicationJob
    from .capture import MessageBuilder
    from .store import ScheduledSet

Entry = tuple[str, bytes, float]


class RedisScheduler:
    """Writes delayed jobs to the scheduled set (``activejob_scheduler = "redis"``).

    With a ``builder`` (the broker is the scheduled set's own Redis database) each entry is the
    exact message a publish would push, captured from Celery's publish path; without one it is
    the payload and routing, published through Celery when due. A job whose time has already
    come is published at once.

    Example:
        >>> adapter.scheduler                                  # doctest: +SKIP
        <RedisScheduler activejob:scheduled direct>
    """

    def __init__(
        self, adapter: CeleryAdapter, scheduled: ScheduledSet, builder: MessageBuilder | None
    ) -> None:
        self.adapter = adapter
        self.scheduled = scheduled
        self.builder = builder

    def schedule(self, job: ApplicationJob, timestamp: float) -> None:
        """Store ``job`` to run at ``timestamp`` (publish it now if that time has passed)."""
        if timestamp <= time.time():
            self.adapter.publish(job)
            return
        entry = self._entry(job, timestamp)
        try:
            self.scheduled.add([entry], self._status_of([job]))
        except Exception as error:
            raise EnqueueError(f"Error while scheduling {job.job_name}: {error}") from error

    def schedule_all(self, jobs: list[ApplicationJob]) -> None:
        """Store many jobs with one Redis call per 1 000; each job records its own outcome."""
        now = time.time()
        entries: list[Entry] = []
        waiting: list[ApplicationJob] = []
        for job in jobs:
            assert job.scheduled_at is not None
            timestamp = job.scheduled_at.timestamp()
            try:
                if timestamp <= now:
                    self.adapter.publish(job)
                    job.successfully_enqueued = True
                    continue
                entries.append(self._entry(job, timestamp))
                waiting.append(job)
            except EnqueueError as error:
                job.successfully_enqueued, job.enqueue_error = False, error
        try:
            self.scheduled.add(entries, self._status_of(waiting))
        except Exception as error:
            failure = EnqueueError(f"Error while scheduling {len(entries)} jobs: {error}")
            for job in waiting:
                job.successfully_enqueued, job.enqueue_error = False, failure
            return
        for job in waiting:
            job.successfully_enqueued = True

    def _status_of(self, jobs: list[ApplicationJob]) -> Callable[[Any], None] | None:
        """The status writes of ``jobs`` (``scheduled``), to ride with their entries."""
        store = self.adapter.status
        if store is None or store.client is not self.scheduled.client:
            return None
        fresh = [job for job in jobs if not job._retrying]  # a retry: its run writes "retrying"

        def write(pipe: Any) -> None:
            for job in fresh:
                at = job.scheduled_at.timestamp() if job.scheduled_at is not None else 0.0
                store.enqueued(pipe, job, "scheduled", at)

        return write if fresh else None

    def _entry(self, job: ApplicationJob, timestamp: float) -> Entry:
        out = self.adapter.prepare(job)
        value = None
        if self.builder is not None:
            try:
                pushes = self.builder.build(
                    lambda producer: self.adapter.send_prepared(job, out, producer=producer)
                )
            except Exception as error:
                raise EnqueueError(
                    f"Error while scheduling {job.job_name} to queue {job.queue_name!r}: {error}"
                ) from error
            # A route to no queue at all is left to Celery at release time, as a publish would be.
            value = encode_direct(pushes) if pushes else None
        if value is None:
            value = encode_envelope(
                job.job_name, out.task_id, job.queue_name, out.priority, out.payload, out.reprs
            )
        return member_for(job.job_id, out.task_id), value, timestamp

    def __repr__(self) -> str:
        mode = "direct" if self.builder is not None else "through Celery"
        return f"<RedisScheduler {self.scheduled.key} {mode}>"
