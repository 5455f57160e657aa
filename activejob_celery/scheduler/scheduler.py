"""``RedisScheduler``: ``set(wait=...)`` and retries go to the scheduled set, not to Celery ETA."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..adapters.batch import prepare_all
from ..canvas import retry_send_options
from ..errors import EnqueueError
from .entries import encode_direct, encode_envelope, encode_gated, member_for

if TYPE_CHECKING:
    from ..adapters.capture import MessageBuilder
    from ..adapters.celery import CeleryAdapter, Outgoing
    from ..adapters.direct import DirectPublisher
    from ..base import ApplicationJob
    from .store import Also, ScheduledSet

Entry = tuple[str, bytes, float]


class Recorded(list[list[Any]]):
    """The commands a status write adds to a pipeline, kept to ride with the entries.

    Example:
        >>> commands = Recorded(); commands.execute_command("HSET", "k", "f", 1); commands
        [['HSET', 'k', 'f', 1]]
    """

    def execute_command(self, *args: Any) -> None:
        """Keep one command (name and arguments), as a pipeline would queue it."""
        self.append(list(args))


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
        entry = self._entry(job, timestamp, self._direct())
        try:
            self.scheduled.add([entry], self._status_of([job]))
        except Exception as error:
            raise EnqueueError(f"Error while scheduling {job.job_name}: {error}") from error

    def schedule_all(self, jobs: list[ApplicationJob]) -> None:
        """Store many jobs with one Redis call per 1 000; each job records its own outcome."""
        now = time.time()
        direct = self._direct()  # decided once per batch, as the immediate publish does
        times = [job.scheduled_at.timestamp() for job in jobs if job.scheduled_at is not None]
        assert len(times) == len(jobs)
        # Prepared together before anything is published (a bad argument stops the chunk first).
        due_later = [job for job, at in zip(jobs, times, strict=True) if at > now]
        later = iter(prepare_all(self.adapter, due_later))
        entries: list[Entry] = []
        waiting: list[ApplicationJob] = []
        # Neither changes while the entries are built in this one pass: read once per batch.
        batch = None if direct is None else direct.batch_context()
        for job, timestamp in zip(jobs, times, strict=True):
            try:
                if timestamp <= now:
                    self.adapter.publish(job)
                    job.successfully_enqueued = True
                    continue
                entries.append(self._entry(job, timestamp, direct, next(later), batch))
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

    def _status_of(self, jobs: list[ApplicationJob]) -> Also | None:
        """The status writes of ``jobs`` (``scheduled``), to ride with their entries."""
        store = self.adapter.status
        if store is None or store.client is not self.scheduled.client:
            return None
        fresh = [job for job in jobs if not job._retrying]  # a retry: its run writes "retrying"
        times = [job.scheduled_at.timestamp() for job in fresh if job.scheduled_at]
        if len(fresh) > 1 and len(times) == len(fresh):  # one script call for the batch
            commands = Recorded()
            store.enqueued_batch(commands, fresh, "scheduled", times)
            return commands

        def write(pipe: Any) -> None:
            for job in fresh:
                at = job.scheduled_at.timestamp() if job.scheduled_at is not None else 0.0
                store.enqueued(pipe, job, "scheduled", at)

        return write if fresh else None

    def _direct(self) -> DirectPublisher | None:
        """The direct publisher when entries may be its copies (see :meth:`_entry`), else None."""
        direct = self.adapter.direct
        if direct is None or self.builder is None or retry_send_options() or not direct.usable():
            # A canvas run's retry carries its links; publish signal receivers must see every
            # message built: both are built by Celery, as immediate publishes are.
            return None
        return direct

    def _entry(
        self,
        job: ApplicationJob,
        timestamp: float,
        direct: DirectPublisher | None,
        out: Outgoing | None = None,
        batch: tuple[Any, ...] | None = None,
    ) -> Entry:
        if out is None:
            out = self.adapter.prepare(job)
        value = None
        copy = None if direct is None else direct.copy_for(job, out, batch)
        if copy is not None:  # byte for byte what the builder captures (see DirectPublisher)
            value = encode_direct([copy])
        elif self.builder is not None:
            try:
                pushes = self.builder.build(
                    lambda producer: self.adapter.send_prepared(job, out, producer=producer)
                )
            except Exception as error:
                raise EnqueueError(
                    f"Error while scheduling {job.job_name} to queue {job.queue_name!r}: {error}"
                ) from error
            if direct is not None:
                direct.learn(job, out, pushes)
            # A route to no queue at all is left to Celery at release time, as a publish would be.
            value = encode_direct(pushes) if pushes else None
        if value is None:
            value = encode_envelope(
                job.job_name, out.task_id, job.queue_name, out.priority, out.payload, out.reprs
            )
        gate = release_gate(job, self.scheduled.unique_prefix)
        if gate is not None:  # checked when due, by the release script
            value = encode_gated(gate, {"payload": out.payload}, value)
        return member_for(job.job_id, out.task_id), value, timestamp

    def __repr__(self) -> str:
        mode = "direct" if self.builder is not None else "through Celery"
        return f"<RedisScheduler {self.scheduled.key} {mode}>"


PUT_OFF_DELAY = 2.0
"""Seconds a due ``while_executing`` job waits again when its duplicate is running (as
:data:`~activejob_celery.concurrency.gate.WHILE_EXECUTING_DELAY`)."""


def release_gate(job: ApplicationJob, unique_prefix: str) -> dict[str, Any] | None:
    """What the release script checks when a scheduled ``job`` becomes due (None: nothing).

    ``limits_concurrency(on_conflict="block")``: the slot it takes, or it is parked as blocked.
    ``unique(until="while_executing")``: the run lock of a duplicate; while another job holds
    it, the job stays in the scheduled set :data:`PUT_OFF_DELAY` seconds more (a worker still
    takes the lock itself when the job runs). A ``"discard"`` limit is checked when a worker
    receives the job, where ``after_discard`` can run.

    Example:
        >>> release_gate(SyncAccountJob(42), "activejob:unique")   # doctest: +SKIP
        {'job_id': '...', 'key': 'SyncAccountJob/42', 'to': 1, 'duration': 180.0, ...}
    """
    kind = type(job)
    limit = getattr(kind, "_concurrency_limit", None)
    rule = getattr(kind, "_uniqueness", None)
    gate: dict[str, Any] = {}
    try:
        if rule is not None and rule.until == "while_executing" and not job._skip_unique:
            gate.update(running=f"{unique_prefix}:{rule.key_for(job)}", delay=PUT_OFF_DELAY)
        if limit is not None and limit.on_conflict == "block":
            gate.update(
                key=limit.key_for(job),
                to=limit.to,
                duration=limit.duration,
                limit=f"{limit.to}:{float(limit.duration)!r}",
                priority=job.priority or 0,
            )
    except Exception as error:
        raise EnqueueError(
            f"Error while scheduling {job.job_name}: its concurrency or unique key failed: {error}"
        ) from error
    if not gate:
        return None
    gate["job_id"] = job.job_id
    return gate
