"""The Celery adapter: one task message per job, published through the app's producer pool."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import EnqueueError
from ..queue_priority import celery_priority
from .base import QueueAdapter

if TYPE_CHECKING:
    from celery import Celery

    from ..base import ApplicationJob

BATCH_SIZE = 1000


class EtaScheduler:
    """Delayed jobs through Celery's own ETA (``activejob_scheduler = "celery"``)."""

    def __init__(self, adapter: CeleryAdapter) -> None:
        self.adapter = adapter

    def schedule(self, job: ApplicationJob, timestamp: float) -> None:
        """Publish ``job`` now with an ``eta`` header; the worker holds it until then."""
        self.adapter.publish(job, eta=datetime.fromtimestamp(timestamp, timezone.utc))


class CeleryAdapter(QueueAdapter):
    """Publishes each job as a message of the job class's Celery task (named ``job_name``).

    Example:
        >>> adapter = CeleryAdapter(app)                       # doctest: +SKIP
    """

    display_name: ClassVar[str] = "Celery"

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.scheduler: Any = EtaScheduler(self)

    def enqueue(self, job: ApplicationJob) -> None:
        self.publish(job)

    def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
        self.scheduler.schedule(job, timestamp)

    def publish(self, job: ApplicationJob, *, eta: datetime | None = None, producer: Any = None) -> None:
        """Serialize ``job`` and publish it; broker failures become EnqueueError."""
        job.provider_job_id = str(uuid.uuid4())
        payload = job.serialize()
        try:
            self.app.send_task(
                job.job_name,
                args=(payload,),
                task_id=job.provider_job_id,
                queue=job.queue_name,
                priority=celery_priority(job.priority),
                eta=eta,
                producer=producer,
            )
        except Exception as error:
            raise EnqueueError(
                f"Error while publishing {job.job_name} to queue {job.queue_name!r}: {error}"
            ) from error

    def enqueue_all(self, jobs: list[ApplicationJob]) -> int:
        """Publish in pipelined batches of 1000 through one held producer."""
        taken = 0
        for start in range(0, len(jobs), BATCH_SIZE):
            chunk = jobs[start : start + BATCH_SIZE]
            try:
                with self.app.producer_or_acquire() as producer:
                    batch = producer.batch(max_size=BATCH_SIZE) if hasattr(producer, "batch") else None
                    if batch is None:
                        self._publish_chunk(chunk, producer)
                    else:
                        with batch:
                            self._publish_chunk(chunk, producer)
            except Exception as error:
                failure = error if isinstance(error, EnqueueError) else EnqueueError(str(error))
                for job in chunk:
                    job.successfully_enqueued = False
                    job.enqueue_error = failure
                continue
            for job in chunk:
                job.successfully_enqueued = True
            taken += len(chunk)
        return taken

    def _publish_chunk(self, chunk: list[ApplicationJob], producer: Any) -> None:
        for job in chunk:
            if job.scheduled_at is None:
                self.publish(job, producer=producer)
            else:
                self.enqueue_at(job, job.scheduled_at.timestamp())
