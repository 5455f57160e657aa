"""``ApplicationJob`` and the metaclass that collects class-body declarations.

The class assembles the concerns the way Rails' ``ActiveJob::Base`` includes them: core state and
payload (``core``), queue name and priority, enqueuing, execution, callbacks and rescue handlers.
The order in which a job *runs* is not spread over these pieces; it is written out in one place,
:func:`activejob_celery.execution.perform_now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from . import (
    bulk,
    callbacks,
    concurrency,
    discarding,
    enqueuing,
    execution,
    queue_name,
    queue_priority,
    registry,
    rescue,
)
from .adapters import adapter_for
from .callbacks import Callback, CallbackDeclaration
from .configured_job import ConfiguredJob
from .core import JobCore, JobPayload
from .declaration import close_collector, declared_classmethod, open_collector
from .errors import ConfigurationError
from .results import CeleryCitizen

if TYPE_CHECKING:
    from .adapters.base import QueueAdapter

J = TypeVar("J", bound="ApplicationJob")
R = TypeVar("R")


class JobMeta(type):
    """Opens a declaration collector for each class body and applies what it collected."""

    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return open_collector()

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        abstract: bool = False,
        **kwargs: Any,
    ) -> JobMeta:
        """Open the collector for the class body about to run."""
        declarations = close_collector(namespace)
        cls: Any = super().__new__(mcs, name, bases, dict(namespace), **kwargs)
        cls._abstract = abstract
        cls._own_declarations = []
        if "job_name" not in namespace:
            cls.job_name = f"{cls.__module__}.{cls.__qualname__}"
        for declaration in declarations:
            declaration.apply(cls)
            declaration.check_complete()
        queue_priority.adopt_priority_reader(cls, namespace)  # GoodJob's `def priority`
        cls._rebuild_tables()
        if not abstract:
            if cls.perform is JobCore.perform:
                raise ConfigurationError(
                    f"{cls.__qualname__} must define perform(), or be declared "
                    f"`class {name}(..., abstract=True)` if it is a base for other jobs"
                )
            registry.register(cls)
        return cls  # type: ignore[no-any-return]

    def __init__(
        cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> None:
        kwargs.pop("abstract", None)
        super().__init__(name, bases, namespace, **kwargs)


class hybridmethod(Generic[R]):
    """A method with a class form and an instance form, like Rails' ``perform_now`` and ``set``."""

    def __init__(self, on_class: Callable[..., R], on_instance: Callable[..., R]) -> None:
        self.on_class = on_class
        self.on_instance = on_instance
        self.__doc__ = on_class.__doc__

    def __get__(self, instance: object, owner: type) -> Callable[..., R]:
        if instance is None:
            return lambda *args, **kwargs: self.on_class(owner, *args, **kwargs)
        return lambda *args, **kwargs: self.on_instance(instance, *args, **kwargs)


def _perform_now_on_class(cls: type[ApplicationJob], *args: Any, **kwargs: Any) -> Any:
    return execution.perform_now(cls(*args, **kwargs))


def _set_on_class(cls: type[ApplicationJob], **options: Any) -> ConfiguredJob[Any]:
    return ConfiguredJob(cls, options)


def _set_on_instance(job: ApplicationJob, **options: Any) -> ApplicationJob:
    enqueuing.apply_options(job, **options)
    return job


class ApplicationJob(JobCore, CeleryCitizen, metaclass=JobMeta, abstract=True):
    """The base class of every job.

    Subclass it, declare queue, retries and callbacks in the class body, and define ``perform``.
    App-wide defaults go in an abstract base (``abstract=True``), as Rails apps keep them in
    their own ``ApplicationJob``.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     queue_as("low_priority")
        ...     retry_on(TimeoutError, wait=30, attempts=3)
        ...     def perform(self, guest_id, *, notify=False): ...
        >>> GuestsCleanupJob.perform_later(42, notify=True)    # doctest: +SKIP
    """

    queue_adapter: ClassVar[str | QueueAdapter | None] = None
    """The adapter for this class and its subclasses: ``"celery"``, ``"inline"``, ``"test"`` or an
    adapter object; None follows ``activejob_queue_adapter``."""
    log_arguments: ClassVar[bool | None] = None
    """Whether log lines show arguments; None follows ``activejob_log_arguments``."""
    enqueue_after_transaction_commit: ClassVar[bool | None] = None
    """Publish after the open database transaction commits (Django/SQLAlchemy integrations);
    None follows ``activejob_enqueue_after_transaction_commit``."""

    _abstract: ClassVar[bool]
    _own_declarations: ClassVar[list[Any]]
    _rescue_handlers: ClassVar[tuple[rescue.Handler, ...]] = ()
    _after_discard: ClassVar[tuple[Callable[..., Any], ...]] = ()
    _perform_callbacks: ClassVar[tuple[Callback, ...]] = ()
    _enqueue_callbacks: ClassVar[tuple[Callback, ...]] = ()
    _concurrency_limit: ClassVar[concurrency.Limit | None] = None
    _uniqueness: ClassVar[concurrency.Uniqueness | None] = None

    # Declarations in their classmethod form, for setup after the class body.
    queue_as = declared_classmethod(queue_name.queue_as)
    queue_with_priority = declared_classmethod(queue_priority.queue_with_priority)
    retry_on = declared_classmethod(rescue.retry_on)
    discard_on = declared_classmethod(rescue.discard_on)
    rescue_from = declared_classmethod(rescue.rescue_from)
    after_discard = declared_classmethod(discarding.after_discard)
    before_perform = declared_classmethod(callbacks.before_perform)
    around_perform = declared_classmethod(callbacks.around_perform)
    after_perform = declared_classmethod(callbacks.after_perform)
    before_enqueue = declared_classmethod(callbacks.before_enqueue)
    around_enqueue = declared_classmethod(callbacks.around_enqueue)
    after_enqueue = declared_classmethod(callbacks.after_enqueue)
    limits_concurrency = declared_classmethod(concurrency.limits_concurrency)
    unique = declared_classmethod(concurrency.unique)

    perform_now = hybridmethod(_perform_now_on_class, execution.perform_now)
    """``Job.perform_now(*args)`` or ``job.perform_now()``: run here, with the full pipeline."""
    set = hybridmethod(_set_on_class, _set_on_instance)
    """``Job.set(wait=, wait_until=, queue=, priority=, unique=, timeout=)``: a configured job."""

    @classmethod
    def perform_later(cls: type[J], *args: Any, **kwargs: Any) -> J | bool:
        """Enqueue a job for ``perform(*args, **kwargs)``.

        Returns:
            The job (check ``successfully_enqueued`` and ``enqueue_error``), or False when a
            before_enqueue callback halted.

        Example:
            >>> GuestsCleanupJob.perform_later(42, notify=True)    # doctest: +SKIP
        """
        return cls(*args, **kwargs).enqueue()

    def enqueue(
        self: J,
        *,
        wait: float | timedelta | None = None,
        wait_until: datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        unique: bool | None = None,
        timeout: float | timedelta | None = None,
    ) -> J | bool:
        """Hand this job to its adapter, through the enqueue callbacks.

        Example:
            >>> GuestsCleanupJob(42).enqueue(wait=60)               # doctest: +SKIP
        """
        return enqueuing.enqueue(
            self, wait=wait, wait_until=wait_until, queue=queue, priority=priority,
            unique=unique, timeout=timeout,
        )  # fmt: skip

    def retry_job(
        self: J,
        *,
        wait: float | timedelta | None = None,
        wait_until: datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        error: BaseException | None = None,
    ) -> J | bool:
        """Enqueue this job again (same ``job_id``, current arguments); this object is unchanged.

        Example:
            >>> class ImportJob(ApplicationJob):                   # doctest: +SKIP
            ...     @rescue_from(QuotaExceeded)
            ...     def later(self, error):
            ...         self.retry_job(wait=3600, queue="slow")
        """
        return enqueuing.retry_job(
            self, wait=wait, wait_until=wait_until, queue=queue, priority=priority, error=error
        )

    def discard_job(self, error: BaseException | None = None) -> None:
        """Give up on this job: log the discard and run ``after_discard``.

        Call it from a rescue handler (or return right after it in ``perform``).

        Example:
            >>> class ImportJob(ApplicationJob):                   # doctest: +SKIP
            ...     @rescue_from(Gone)
            ...     def gone(self, error):
            ...         self.discard_job(error)
        """
        discarding.discard(self, error)

    def adapter(self) -> QueueAdapter:
        """The queue adapter this job enqueues through."""
        return adapter_for(type(self))

    @classmethod
    def execute(cls, payload: JobPayload) -> Any:
        """Run a job from its payload, as a worker does (Rails ``ActiveJob::Base.execute``).

        Example:
            >>> ApplicationJob.execute(GuestsCleanupJob(42).serialize())   # doctest: +SKIP
        """
        return execution.execute(payload)

    @classmethod
    def deserialize(cls, payload: JobPayload) -> ApplicationJob:
        """Build the job a payload describes; the class comes from the registry only."""
        return execution.instantiate(payload)

    @classmethod
    def _rebuild_tables(cls) -> None:
        declarations = [
            declaration
            for klass in reversed(cls.__mro__)
            if isinstance(klass, JobMeta)
            for declaration in klass.__dict__.get("_own_declarations", ())
        ]
        cls._rescue_handlers = tuple(
            d.bind(cls) for d in declarations if isinstance(d, rescue.Handler)
        )
        cls._after_discard = tuple(
            d.bind(cls) for d in declarations if isinstance(d, discarding.AfterDiscard)
        )
        cls._perform_callbacks = tuple(
            d.bind(cls)
            for d in declarations
            if isinstance(d, CallbackDeclaration) and d.chain == "perform"
        )
        cls._enqueue_callbacks = tuple(
            d.bind(cls)
            for d in declarations
            if isinstance(d, CallbackDeclaration) and d.chain == "enqueue"
        )
        for subclass in cls.__subclasses__():
            subclass._rebuild_tables()

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} job_id={self.job_id!r} queue={self._queue_name!r}>"


def perform_all_later(*jobs: ApplicationJob | list[ApplicationJob]) -> None:
    """Enqueue many jobs in one pass per adapter; no enqueue callbacks run (Rails 7.1).

    Check ``job.successfully_enqueued`` on each job afterwards.

    Example:
        >>> perform_all_later([GuestsCleanupJob(1), GuestsCleanupJob(2)])   # doctest: +SKIP
    """
    bulk.perform_all_later(*jobs)
