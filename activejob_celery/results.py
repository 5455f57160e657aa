"""Results: ``store_result`` jobs keep what ``perform`` returned in Celery's result backend.

The value is stored once per job, by its final run, under the task id of the job's first
enqueue (``job.provider_job_id`` as ``perform_later`` returned it): a run that ends in a retry
stores nothing, and the retry's message carries that first id in the payload key
``result_id``. Values are encoded by the job's argument serializers (plain JSON values stay as
they are), so a result is always JSON and never needs unpickling.

Example:
    >>> class TotalJob(ApplicationJob):                       # doctest: +SKIP
    ...     store_result = True
    ...     def perform(self, *numbers): return sum(numbers)
    >>> TotalJob.perform_later(1, 2).result(timeout=10)       # doctest: +SKIP
    3
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar

from celery.result import AsyncResult

from . import registry
from .adapters import celery_app
from .arguments import deserialize_argument, serialize_argument
from .canvas import job_signature
from .config import current_settings
from .errors import ConfigurationError, SerializationError

if TYPE_CHECKING:
    from celery import Celery
    from celery.canvas import Signature

    from .base import ApplicationJob

logger = logging.getLogger(__name__)

_EAGER_KEPT = 1000
_eager_results: OrderedDict[str, Any] = OrderedDict()


def wants_results(job_class: type[Any] | None) -> bool:
    """Whether runs of ``job_class`` store their result (``store_result``, else the setting).

    Example:
        >>> wants_results(None)
        False
    """
    own = getattr(job_class, "store_result", None)
    return bool(current_settings().store_results if own is None else own)


def check_backend(app: Celery) -> bool:
    """Warn once (at ``init_app``) when jobs store results but the app has no result backend.

    Example:
        >>> check_backend(app)                                # doctest: +SKIP
        True
    """
    if app.conf.result_backend:
        return True
    storing = sorted(cls.job_name for cls in registry.job_classes() if wants_results(cls))
    if current_settings().store_results or storing:
        logger.warning(
            "Jobs store results (activejob_store_results or store_result = True on %s) but the "
            "app has no result backend: set result_backend, or their results are lost",
            ", ".join(storing) or "every job",
        )
        return False
    return True


def encode_result(job: ApplicationJob, value: Any) -> Any:
    """``value`` as stored: encoded by the argument serializers; None when it cannot be.

    Example:
        >>> encode_result(job, {"total": 3})                  # doctest: +SKIP
        {'total': 3}
    """
    try:
        return serialize_argument(value)
    except SerializationError as error:
        logger.error(
            "Job %s (job_id %s) returned a %s, which cannot be stored as its result (%s); "
            "its result is None",
            job.job_name, job.job_id, type(value).__name__, error,
        )  # fmt: skip
        return None


def keep_eager(result_id: str, value: Any) -> None:
    """Keep the final result of an eager run for ``job.result()`` (the last 1 000 only).

    Example:
        >>> keep_eager("task-id", 42)
    """
    _eager_results[result_id] = value
    _eager_results.move_to_end(result_id)
    while len(_eager_results) > _EAGER_KEPT:
        _eager_results.popitem(last=False)


class CeleryCitizen:
    """What makes a job class a Celery citizen: ``s``, ``si``, ``store_result`` and ``result``.

    Example:
        >>> chain(FetchJob.s(42), TotalJob.s()).delay()       # doctest: +SKIP
    """

    store_result: ClassVar[bool | None] = None
    """Store what ``perform`` returns in the result backend; None follows
    ``activejob_store_results``."""

    @classmethod
    def s(cls, *args: Any, **kwargs: Any) -> Signature:
        """A partial signature: a parent's result is added to ``perform``'s arguments.

        Celery's convention: values given later (a chain parent's result, a chord's list of
        results, ``sig.delay(x)``) come before the signature's own arguments.

        Example:
            >>> chain(FetchJob.s(42), TotalJob.s(10)).delay()  # doctest: +SKIP
        """
        return job_signature(cls, args, kwargs, immutable=False)  # type: ignore[arg-type]

    @classmethod
    def si(cls, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: parents' results are not passed to it.

        Example:
            >>> chain(ImportJob.si(1), ImportJob.si(2)).delay()  # doctest: +SKIP
        """
        return job_signature(cls, args, kwargs, immutable=True)  # type: ignore[arg-type]

    def result(self, timeout: float | None = None, *, propagate: bool = True) -> Any:
        """Wait for and return what ``perform`` returned (``AsyncResult(...).get``, decoded).

        Raises:
            ConfigurationError: the job was not enqueued or does not store results.
            celery.exceptions.TimeoutError: no result within ``timeout`` seconds.

        Example:
            >>> TotalJob.perform_later(1, 2).result(timeout=10)  # doctest: +SKIP
            3
        """
        result_id = getattr(self, "result_id", None) or getattr(self, "provider_job_id", None)
        if not result_id:
            raise ConfigurationError("job.result(): the job has no provider_job_id (not enqueued)")
        if not wants_results(type(self)):
            raise ConfigurationError(
                f"job.result(): {type(self).__qualname__} does not store results; set "
                "store_result = True on the class or activejob_store_results = True"
            )
        if result_id in _eager_results:
            kept = _eager_results[result_id]
            if isinstance(kept, BaseException):
                if propagate:
                    raise kept
                return kept
            return deserialize_argument(kept)
        value = AsyncResult(result_id, app=celery_app()).get(timeout=timeout, propagate=propagate)
        return deserialize_argument(value) if not isinstance(value, BaseException) else value
