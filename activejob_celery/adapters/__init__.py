"""Queue adapters: ``celery`` (the default), ``inline`` and ``test``; lookup by name or object."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import current_settings
from ..errors import ConfigurationError
from .base import QueueAdapter
from .inline import InlineAdapter

if TYPE_CHECKING:
    from collections.abc import Callable

    from celery import Celery

    from ..base import ApplicationJob

__all__ = [
    "InlineAdapter",
    "QueueAdapter",
    "adapter_for",
    "celery_app",
    "named_adapter",
    "reporting_adapter",
    "use_celery_app",
]

_named: dict[str, QueueAdapter] = {}


def use_celery_app(app: Celery) -> QueueAdapter:
    """Make ``"celery"`` mean an adapter publishing through ``app`` (called by ``init_app``)."""
    # import here: cycle: adapters.celery imports this module
    from .celery import CeleryAdapter

    adapter = CeleryAdapter(app)
    _named["celery"] = adapter
    return adapter


def celery_app() -> Celery | None:
    """The app ``init_app`` last set up for jobs in this process, if any.

    Example:
        >>> celery_app() is app                                  # doctest: +SKIP
        True
    """
    adapter = _named.get("celery")
    app = getattr(adapter, "app", None)
    return app


def named_adapter(name: str) -> QueueAdapter:
    """The shared adapter called ``name``."""
    adapter = _named.get(name)
    if adapter is not None:
        return adapter
    if name == "inline":
        adapter = _named[name] = InlineAdapter()
        return adapter
    if name == "test":
        # import here: cycle: adapters.testing imports this module
        from .testing import TestAdapter

        adapter = _named[name] = TestAdapter()
        return adapter
    if name == "celery":
        raise ConfigurationError(
            "No Celery app is set up for jobs: call activejob_celery.init_app(app) first "
            "(or set queue_adapter = 'inline' / 'test' on the job class)"
        )
    raise ConfigurationError(f"Unknown queue adapter {name!r}; use 'celery', 'inline' or 'test'")


override: Callable[[type[ApplicationJob]], QueueAdapter | None] | None = None
"""Asked first by ``adapter_for``; ``activejob_celery.testing`` swaps in its test adapter here."""


def adapter_for(job_class: type[ApplicationJob]) -> QueueAdapter:
    """The adapter ``job_class`` uses: its ``queue_adapter``, else ``activejob_queue_adapter``."""
    swapped = override(job_class) if override is not None else None
    if swapped is not None:
        return swapped
    chosen = job_class.queue_adapter
    if chosen is None:
        return named_adapter(current_settings().queue_adapter)
    if isinstance(chosen, str):
        return named_adapter(chosen)
    return chosen


def reporting_adapter(job_class: type[ApplicationJob]) -> QueueAdapter:
    """The adapter named in signals and log lines of a run.

    ``perform_now`` works before ``init_app`` (as in Rails), so a run that has no adapter set up
    is reported as inline rather than failing; enqueuing still requires one.
    """
    try:
        return adapter_for(job_class)
    except ConfigurationError:
        return named_adapter("inline")
