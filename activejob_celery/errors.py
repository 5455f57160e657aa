"""Every exception the package raises, under one root.

Each public error also subclasses the nearest built-in meaning, so code that already catches
``TypeError`` or ``LookupError`` keeps working.
"""

from __future__ import annotations


class ActiveJobError(Exception):
    """Root of every error raised by activejob_celery.

    Example:
        >>> issubclass(SerializationError, ActiveJobError)
        True
    """


class ConfigurationError(ActiveJobError, ValueError):
    """A declaration or setting is invalid; raised when the class body or ``init_app`` runs.

    Example:
        >>> from activejob_celery import ApplicationJob, retry_on
        >>> class BadJob(ApplicationJob):          # doctest: +SKIP
        ...     retry_on(TimeoutError, wait="soon")
        Traceback (most recent call last):
        ConfigurationError: retry_on(TimeoutError): wait='soon' is not a supported wait ...
    """


class SerializationError(ActiveJobError, TypeError):
    """An argument cannot be encoded for the wire; nothing was published.

    Example:
        >>> from activejob_celery.arguments import serialize_arguments
        >>> serialize_arguments([object()], {})     # doctest: +SKIP
        Traceback (most recent call last):
        SerializationError: Unsupported argument type: object ...
    """


class DeserializationError(ActiveJobError, ValueError):
    """Arguments in a payload could not be decoded; raised from the original error.

    It is raised inside the job's rescue scope, so ``retry_on`` and ``discard_on`` apply to it.

    Example:
        >>> class CleanupJob(ApplicationJob):       # doctest: +SKIP
        ...     discard_on(DeserializationError)
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"Error while trying to deserialize arguments: {message}")


class UnknownJobClassError(ActiveJobError, LookupError):
    """A payload names a job class that is not registered in this process.

    Example:
        >>> UnknownJobClassError("shop.jobs.GoneJob").job_class
        'shop.jobs.GoneJob'
    """

    def __init__(self, job_class: str) -> None:
        self.job_class = job_class
        super().__init__(
            f"Failed to instantiate job, class {job_class!r} is not a registered job class "
            "(was it renamed, or is the module that defines it not imported by this worker?)"
        )


class MalformedPayloadError(ActiveJobError, ValueError):
    """A message body is not a job payload (wrong shape, wrong types, or not JSON).

    Example:
        >>> str(MalformedPayloadError("'job_id' must be a string"))
        "Malformed job payload: 'job_id' must be a string"
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Malformed job payload: {reason}")


class EnqueueError(ActiveJobError):
    """The broker refused or could not take the job; recorded on the job, never raised to callers.

    Example:
        >>> job = GuestsCleanupJob.perform_later(42)    # doctest: +SKIP
        >>> job.successfully_enqueued, job.enqueue_error
        (False, EnqueueError('Error while publishing ...'))
    """


class Abort(Exception):
    """Raise in a ``before_*`` callback to halt the chain, like Rails' ``throw :abort``.

    It is control flow: it is never reported to an error tracker or stored as a dead letter.

    Example:
        >>> class ReportJob(ApplicationJob):          # doctest: +SKIP
        ...     @before_perform
        ...     def check(self):
        ...         if not self.arguments:
        ...             raise Abort
    """


class JobInterruptedError(ActiveJobError):
    """The previous delivery of this job started and never finished: its worker process died.

    Raised at the start of the run that follows (GoodJob's ``InterruptError``), inside the
    job's rescue scope, so ``retry_on`` and ``discard_on`` decide what happens. Unhandled, it
    is an ordinary failure. After ``activejob_max_interruptions`` interrupted deliveries the
    job becomes a dead letter with reason ``killed`` instead of running again.

    Example:
        >>> class ImportJob(ApplicationJob):          # doctest: +SKIP
        ...     retry_on(JobInterruptedError, wait=5, attempts=3)
    """


class JobNotUniqueError(ActiveJobError):
    """A ``unique(on_conflict="raise")`` job was enqueued while a duplicate holds its lock.

    Example:
        >>> class ReportJob(ApplicationJob):          # doctest: +SKIP
        ...     unique(until="executed", on_conflict="raise")
        >>> ReportJob.perform_later("2026-01-01")     # doctest: +SKIP
        >>> ReportJob.perform_later("2026-01-01")     # doctest: +SKIP
        Traceback (most recent call last):
        activejob_celery.errors.JobNotUniqueError: ReportJob ... is not unique: ...
    """


# --- continuations (Rails 8.1 ActiveJob::Continuation errors) ---


class ContinuationError(ActiveJobError):
    """Base of the errors a ``Continuable`` job raises; never resumed, always re-raised.

    Example:
        >>> class ImportJob(Continuable, ApplicationJob):     # doctest: +SKIP
        ...     discard_on(ContinuationError)
    """


class InvalidStepError(ContinuationError):
    """A step is badly named, repeated, nested, or out of the order recorded in the payload.

    Example:
        >>> self.step(1, self.validate)                      # doctest: +SKIP
        Traceback (most recent call last):
        activejob_celery.errors.InvalidStepError: Step '1' must be a str, found 'int'
    """


class CheckpointError(ContinuationError):
    """A checkpoint was reached inside an open database transaction.

    Example:
        >>> with transaction.atomic():                        # doctest: +SKIP
        ...     step.checkpoint()
        Traceback (most recent call last):
        activejob_celery.errors.CheckpointError: Cannot checkpoint job with open transactions
    """


class UnadvanceableCursorError(ContinuationError):
    """``step.advance()`` on a cursor that cannot be advanced (only ``int`` cursors can).

    Example:
        >>> step.advance()                                   # doctest: +SKIP
        Traceback (most recent call last):
        activejob_celery.errors.UnadvanceableCursorError: Cursor class 'NoneType' does not ...
    """


class ResumeLimitError(ContinuationError):
    """The job was interrupted or resumed after errors more than ``max_resumptions`` times.

    Raised inside the run, so ``retry_on``/``discard_on`` can handle it.

    Example:
        >>> class ImportJob(Continuable, ApplicationJob):     # doctest: +SKIP
        ...     max_resumptions = 10
        ...     discard_on(ResumeLimitError)
    """


class ContinuationInterrupt(BaseException):
    """Raised at a checkpoint when the worker is stopping; the job re-enqueues itself.

    A ``BaseException`` (as Rails' is an ``Exception``, not a ``StandardError``), so
    ``except Exception`` in job code does not swallow it.

    Example:
        >>> step.checkpoint()                                # doctest: +SKIP
        Traceback (most recent call last):
        activejob_celery.errors.ContinuationInterrupt: Interrupted at 'process', cursor 433 ...
    """


class JobTimeoutError(TimeoutError):
    """The job ran past its ``timeout``: raised inside ``perform`` (not an ``ActiveJobError``).

    A ``TimeoutError``, so ``retry_on(JobTimeoutError, ...)`` and ``discard_on`` handle it like
    any error; Celery's ``SoftTimeLimitExceeded`` (prefork) is its ``__cause__``.

    Example:
        >>> class ExportJob(ApplicationJob):          # doctest: +SKIP
        ...     timeout = timedelta(minutes=10)
        ...     retry_on(JobTimeoutError, wait=60, attempts=3)
    """
