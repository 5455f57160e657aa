"""Whether a running job should stop at its next checkpoint: the one place that decides.

Rails asks ``queue_adapter.stopping?``; so does this. An adapter's ``stopping`` is a bool, or a
callable taking the job and returning a bool or a reason (``"stopping"`` when True).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..base import ApplicationJob


def stop_reason(job: ApplicationJob) -> str | None:
    """The reason ``job`` must stop at this checkpoint, or None to go on.

    Example:
        >>> stop_reason(job)                                # doctest: +SKIP
        'stopping'
    """
    try:
        adapter: Any = job.adapter()
    except ConfigurationError:
        return None  # perform_now before init_app: nothing can be stopping
    value = getattr(adapter, "stopping", False)
    if callable(value):
        value = value(job)
    if not value:
        return None
    return value if isinstance(value, str) else "stopping"


def should_stop(job: ApplicationJob) -> bool:
    """Whether ``job`` must stop at this checkpoint (its adapter says it is stopping).

    Example:
        >>> should_stop(job)                                # doctest: +SKIP
        False
    """
    return stop_reason(job) is not None
