"""Rails ActiveJob semantics on Celery: jobs, queues, retries, callbacks and more.

Example:
    >>> from activejob_celery import ApplicationJob, queue_as, retry_on
    >>> class GuestsCleanupJob(ApplicationJob):                # doctest: +SKIP
    ...     queue_as("low_priority")
    ...     retry_on(TimeoutError, wait=30, attempts=3)
    ...     def perform(self, guest_id): ...
"""

from __future__ import annotations

from ._version import __version__
from .adapters import QueueAdapter
from .app import init_app
from .arguments import serialize_arguments
from .backoff import EXPONENTIALLY_LONGER, POLYNOMIALLY_LONGER, Exponential, Polynomial
from .base import ApplicationJob, perform_all_later
from .callbacks import (
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
)
from .concurrency import limits_concurrency, unique
from .config import Settings, current_settings
from .configured_job import ConfiguredJob
from .continuation import Continuable
from .discarding import after_discard
from .errors import (
    Abort,
    ActiveJobError,
    CheckpointError,
    ConfigurationError,
    ContinuationError,
    ContinuationInterrupt,
    DeserializationError,
    EnqueueError,
    InvalidStepError,
    JobInterruptedError,
    JobNotUniqueError,
    JobTimeoutError,
    MalformedPayloadError,
    ResumeLimitError,
    SerializationError,
    UnadvanceableCursorError,
    UnknownJobClassError,
)
from .global_id import GlobalID, add_locator
from .log_subscriber import current_job
from .queue_name import queue_as
from .queue_priority import queue_with_priority
from .reporting import add_error_reporter
from .rescue import UNLIMITED, discard_on, rescue_from, retry_on
from .serializers import ObjectSerializer, add_serializers
from .status import cancel, is_cancelled, job_status

__all__ = [
    # Jobs
    "ApplicationJob",
    "ConfiguredJob",
    "perform_all_later",
    "current_job",
    # Declarations
    "queue_as",
    "limits_concurrency",
    "unique",
    "queue_with_priority",
    "retry_on",
    "discard_on",
    "rescue_from",
    "after_discard",
    "before_perform",
    "around_perform",
    "after_perform",
    "before_enqueue",
    "around_enqueue",
    "after_enqueue",
    # Backoff and control flow
    "POLYNOMIALLY_LONGER",
    "EXPONENTIALLY_LONGER",
    "Exponential",
    "Polynomial",
    "UNLIMITED",
    "Abort",
    # Setup
    "init_app",
    "Settings",
    "current_settings",
    "QueueAdapter",
    "add_error_reporter",
    # Arguments
    "ObjectSerializer",
    "add_serializers",
    "GlobalID",
    "add_locator",
    "serialize_arguments",
    # Errors
    "ActiveJobError",
    "SerializationError",
    "DeserializationError",
    "UnknownJobClassError",
    "MalformedPayloadError",
    "EnqueueError",
    "JobInterruptedError",
    "JobNotUniqueError",
    "JobTimeoutError",
    "ConfigurationError",
    # Continuations
    "Continuable",
    "ContinuationError",
    "InvalidStepError",
    "CheckpointError",
    "UnadvanceableCursorError",
    "ResumeLimitError",
    "ContinuationInterrupt",
    # Long-running jobs: status, progress, cancel
    "job_status",
    "cancel",
    "is_cancelled",
    "__version__",
]
