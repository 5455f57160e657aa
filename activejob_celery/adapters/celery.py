"""The Celery adapter: one task message per job, published through the app's producer pool."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..canvas import retry_send_options
from ..config import current_settings
from ..core import new_id
from ..eager import is_eager, run_eagerly
from ..errors import EnqueueError, SerializationError
from ..queue_priority import celery_priority
from ..timeouts import message_limits
from ..worker_shutdown import worker_stopping
from .base import QueueAdapter

if TYPE_CHECKING:
    from celery import Celery

    from ..base import ApplicationJob
    from ..status.store import StatusStore
    from .direct import DirectPublisher

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000


class Scheduler(Protocol):
    """Where ``CeleryAdapter.enqueue_at`` sends jobs that must wait."""

    def schedule(self, job: ApplicationJob, timestamp: float) -> None:
        """Take ``job`` to run at ``timestamp``; raise EnqueueError when it cannot."""

    def schedule_all(self, jobs: list[ApplicationJob]) -> None:
        """Take many jobs (each with ``scheduled_at``); mark each one's outcome."""


class EtaScheduler:
    """Delayed jobs through Celery's own ETA (``activejob_scheduler = "celery"``).

    Example:
        >>> adapter.scheduler = EtaScheduler(adapter)          # doctest: +SKIP
    """

    def __init__(self, adapter: CeleryAdapter) -> None:
        self.adapter = adapter

    def schedule(self, job: ApplicationJob, timestamp: float) -> None:
        """Publish ``job`` now with an ``eta`` header; the worker holds it until then."""
        self.adapter.publish(job, eta=datetime.fromtimestamp(timestamp, timezone.utc))

    def schedule_all(self, jobs: list[ApplicationJob]) -> None:
        """Publish each job with its ``eta``."""
        for job in jobs:
            assert job.scheduled_at is not None
            try:
                self.schedule(job, job.scheduled_at.timestamp())
            except EnqueueError as error:
                job.successfully_enqueued, job.enqueue_error = False, error
            else:
                job.successfully_enqueued = True


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One enqueue of a job, ready to publish: its task id, payload, priority and reprs."""

    task_id: str
    payload: Any
    priority: int | None
    reprs: dict[str, str]


class CeleryAdapter(QueueAdapter):
    """Publishes each job as a message of the job class's Celery task (named ``job_name``).

    Jobs with a time go to ``scheduler``: the durable scheduled set on Redis brokers
    (:mod:`activejob_celery.scheduler`, installed by ``init_app``), else Celery's ETA.

    Example:
        >>> adapter = CeleryAdapter(app)                       # doctest: +SKIP
    """

    display_name: ClassVar[str] = "Celery"

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.scheduler: Scheduler = EtaScheduler(self)
        self.direct: DirectPublisher | None = None
        """Set by the scheduled set's setup when the broker is plain Redis (the fast path)."""
        self.status: StatusStore | None = None
        """Set by the status setup when jobs' status is tracked: enqueues write it."""

    def stopping(self, job: ApplicationJob) -> bool:
        """True once this worker began a warm or cold shutdown, in every pool process.

        Continuable jobs stop at their next checkpoint and re-enqueue themselves. Only a job a
        worker runs from its message can be stopping (not an eager or direct ``perform_now``).

        Example:
            >>> adapter.stopping(job)                          # doctest: +SKIP
            False
        """
        return job._run_task_id is not None and worker_stopping()

    def enqueue(self, job: ApplicationJob) -> None:
        """Publish ``job`` to run as soon as possible (eager mode: run it now)."""
        if is_eager(self.app):
            run_eagerly(self.app, job)
            return
        self.publish(job)

    def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
        """Hand ``job`` to ``scheduler`` to run at ``timestamp`` (eager mode: run it now)."""
        if is_eager(self.app):
            run_eagerly(self.app, job)  # as Celery's eager mode ignores countdown and eta
            return
        self.scheduler.schedule(job, timestamp)

    def publish(
        self, job: ApplicationJob, *, eta: datetime | None = None, producer: Any = None
    ) -> None:
        """Serialize ``job`` and publish it; broker failures become EnqueueError."""
        direct = self.direct
        links = retry_send_options()  # a canvas run's retry carries the canvas links
        use_direct = (
            eta is None
            and producer is None
            and not links
            and direct is not None
            and direct.usable()
        )
        outgoing = None if use_direct else self.prepare(job)
        try:
            if outgoing is None:
                assert direct is not None
                direct.publish(job)
            else:
                self.send_prepared(job, outgoing, eta=eta, producer=producer)
                if producer is None:  # a batch's producer: its caller writes the statuses
                    self.note_enqueued([job], "queued" if eta is None else "scheduled")
        except SerializationError:
            raise
        except Exception as error:
            raise EnqueueError(
                f"Error while publishing {job.job_name} to queue {job.queue_name!r}: {error}"
            ) from error

    def prepare(self, job: ApplicationJob) -> Outgoing:
        """Give ``job`` this enqueue's task id and build what its message carries."""
        # A retry from a worker's run keeps the run's task id, as Celery's ``Task.retry`` does,
        # so Flower and ``celery events`` follow one task through RETRY to its end; a job
        # deferred to a commit already told its caller the id it is published with.
        reused = job._run_task_id if job._retrying else None
        reserved = job.__dict__.pop("_reserved_task_id", None)
        job.provider_job_id = task_id = reused or reserved or new_id()
        priority = celery_priority(job.priority, self.app, job.queue_name)
        return Outgoing(task_id, job.serialize(), priority, self.reprs(job))

    def send_prepared(
        self, job: ApplicationJob, outgoing: Outgoing, *, producer: Any = None, **options: Any
    ) -> None:
        """Publish ``job`` as prepared (errors are not translated); see :meth:`send`."""
        self.send(
            job.job_name,
            outgoing.payload,
            task_id=outgoing.task_id,
            queue=job.queue_name,
            priority=outgoing.priority,
            producer=producer,
            **outgoing.reprs,
            **retry_send_options(),
            **options,
        )

    def send(
        self,
        task: str,
        payload: Any,
        *,
        task_id: str,
        priority: int | None,
        queue: str | None = None,
        producer: Any = None,
        **options: Any,
    ) -> None:
        """Publish one job payload as a message of ``task`` (errors are not translated).

        ``options`` go to ``send_task`` (``eta``, ``exchange``, ``routing_key``, ``argsrepr``,
        ``kwargsrepr``); a payload's ``timeout`` (``set(timeout=...)``) sets ``time_limit``. The
        scheduler uses it to build and to publish messages exactly as :meth:`publish` does.

        Example:
            >>> adapter.send(job.job_name, job.serialize(), task_id=str(uuid4()),
            ...              priority=None, queue="default")     # doctest: +SKIP
        """
        limits = message_limits(payload, self.app)  # set(timeout=...): its hard limit
        options = {**limits, **options} if limits else options
        self.app.send_task(
            task,
            args=(payload,),
            task_id=task_id,
            queue=queue,
            priority=priority,
            producer=producer,
            **{name: value for name, value in options.items() if value is not None},
        )

    def reprs(self, job: ApplicationJob) -> dict[str, str]:
        """``argsrepr``/``kwargsrepr`` headers: the job's own arguments, as Flower shows a task's.

        Celery would show the whole payload dict (and spend a third of the publish time
        formatting it). With ``log_arguments`` off they read ``[FILTERED]``.

        Example:
            >>> adapter.reprs(GuestsCleanupJob(42, notify=True))   # doctest: +SKIP
            {'argsrepr': '(42,)', 'kwargsrepr': "{'notify': True}"}
        """
        shown = type(job).log_arguments
        if shown is None:
            shown = current_settings().log_arguments
        if not shown:
            return {"argsrepr": "[FILTERED]", "kwargsrepr": "[FILTERED]"}
        # Arguments are JSON-encodable (no cycles, bounded by the payload), so the C repr is
        # safe; Celery's saferepr walk cost a fifth of a bulk publish.
        amqp = self.app.amqp
        return {
            "argsrepr": repr(tuple(job.arguments))[: amqp.argsrepr_maxsize],
            "kwargsrepr": repr(job.keyword_arguments)[: amqp.kwargsrepr_maxsize],
        }

    def enqueue_all(self, jobs: list[ApplicationJob]) -> int:
        """Publish in pipelined batches of 1000; scheduled jobs go to the scheduler in bulk."""
        if is_eager(self.app):
            for job in jobs:
                run_eagerly(self.app, job)
                job.successfully_enqueued = True
            return len(jobs)
        scheduled = [job for job in jobs if job.scheduled_at is not None]
        immediate = [job for job in jobs if job.scheduled_at is None]
        for start in range(0, len(immediate), BATCH_SIZE):
            self._publish_batch(immediate[start : start + BATCH_SIZE])
        for start in range(0, len(scheduled), BATCH_SIZE):
            self.scheduler.schedule_all(scheduled[start : start + BATCH_SIZE])
        return sum(1 for job in jobs if job.successfully_enqueued)

    def _publish_batch(self, chunk: list[ApplicationJob]) -> None:
        direct = self.direct
        try:
            if direct is not None and direct.usable():
                direct.publish_many(chunk)
            else:
                self._publish_through_celery(chunk)
        except SerializationError:
            raise  # nothing of this chunk was published; the caller must fix the argument
        except Exception as error:
            failure = error if isinstance(error, EnqueueError) else EnqueueError(str(error))
            for job in chunk:
                job.successfully_enqueued = False
                job.enqueue_error = failure
            return
        for job in chunk:
            job.successfully_enqueued = True

    def _publish_through_celery(self, chunk: list[ApplicationJob]) -> None:
        with self.app.producer_or_acquire() as producer:
            batch = producer.batch(max_size=BATCH_SIZE) if hasattr(producer, "batch") else None
            with batch if batch is not None else contextlib.nullcontext():
                self._publish_chunk(chunk, producer)
        self.note_enqueued(chunk)

    def note_enqueued(self, jobs: list[ApplicationJob], status: str = "queued") -> None:
        """Write the status of jobs just published (one round trip; a failure is logged).

        A retry published by a worker's run is left to that run's end (``retrying``).

        Example:
            >>> adapter.note_enqueued([job])                   # doctest: +SKIP
        """
        store = self.status
        if store is None:
            return
        fresh = [job for job in jobs if not job._retrying]
        if not fresh:
            return
        try:
            store.enqueued_many(fresh, status)
        except Exception as problem:  # the jobs are published: their status is a courtesy
            logger.warning(
                "Could not write the status of %d enqueued job(s): %s", len(fresh), problem
            )

    def _publish_chunk(self, chunk: list[ApplicationJob], producer: Any) -> None:
        for job in chunk:
            self.publish(job, producer=producer)
