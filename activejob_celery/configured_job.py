"""The object ``Job.set(...)`` returns: a job class with enqueue options bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .enqueuing import apply_options
from .errors import ConfigurationError
from .execution import perform_now
from .timeouts import checked_seconds

if TYPE_CHECKING:
    from .base import ApplicationJob

J = TypeVar("J", bound="ApplicationJob")

_OPTIONS = frozenset(("wait", "wait_until", "queue", "priority", "unique", "timeout"))


class ConfiguredJob(Generic[J]):
    """What ``Job.set(wait=300, queue="urgent")`` returns; call ``perform_later`` on it.

    Example:
        >>> GuestsCleanupJob.set(wait=timedelta(minutes=5)).perform_later(42)   # doctest: +SKIP
    """

    def __init__(self, job_class: type[J], options: dict[str, Any]) -> None:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ConfigurationError(
                f"set() got unknown options {sorted(unknown)}; use {', '.join(sorted(_OPTIONS))}"
            )
        if options.get("timeout") is not None:
            checked_seconds(options["timeout"])  # a bad timeout is refused here, not at enqueue
        self.job_class = job_class
        self.options = options

    def perform_later(self, *args: Any, **kwargs: Any) -> J | bool:
        """Enqueue with the bound options; see ``ApplicationJob.perform_later``."""
        return self.job_class(*args, **kwargs).enqueue(**self.options)

    def perform_now(self, *args: Any, **kwargs: Any) -> Any:
        """Run now, with the options applied to the job (Rails ``set(...).perform_now``)."""
        job = self.job_class(*args, **kwargs)
        apply_options(job, **self.options)
        return perform_now(job)

    def set(self, **options: Any) -> ConfiguredJob[J]:
        """More options, merged over these."""
        return ConfiguredJob(self.job_class, {**self.options, **options})

    def __repr__(self) -> str:
        return f"<ConfiguredJob {self.job_class.__qualname__} {self.options!r}>"
