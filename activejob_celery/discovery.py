"""Discovery: ``app.autodiscover_tasks()`` also imports each package's ``jobs`` module.

Celery's autodiscovery (lazy or forced, from a package list or Django's installed apps) ends in
``app.loader.autodiscover_tasks(packages, related_name)``. ``init_app`` wraps that loader method
so that a search for ``tasks`` modules also imports the ``jobs`` module of each package: both are
imported, a package with only one of them is fine, and an error raised inside ``jobs.py``
propagates as Celery lets one from ``tasks.py`` propagate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

TASKS = "tasks"
JOBS = "jobs"
_MARK = "__activejob_jobs_discovery__"


def extend_autodiscovery(app: Celery) -> None:
    """Make ``app``'s discovery of ``tasks`` modules import ``jobs`` modules too (idempotent).

    Works for ``autodiscover_tasks()`` called before or after ``init_app``: the lazy discovery
    runs when the worker imports its modules, through the loader wrapped here.

    Example:
        >>> extend_autodiscovery(app)                           # doctest: +SKIP
        >>> app.autodiscover_tasks(["shop"], force=True)        # doctest: +SKIP
        >>> sorted(m for m in sys.modules if m.startswith("shop."))   # doctest: +SKIP
        ['shop.jobs', 'shop.tasks']
    """
    loader = app.loader
    original = loader.autodiscover_tasks
    if getattr(original, _MARK, False):
        return
    loader.autodiscover_tasks = _with_jobs(original)


def _with_jobs(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def autodiscover_tasks(packages: Any, related_name: str | None = TASKS) -> Any:
        result = original(packages, related_name)
        if related_name == TASKS:
            original(packages, JOBS)
        return result

    setattr(autodiscover_tasks, _MARK, True)
    return autodiscover_tasks


__all__ = ["extend_autodiscovery"]
