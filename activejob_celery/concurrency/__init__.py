"""Concurrency limits and unique jobs, kept in Redis (Solid Queue's ``limits_concurrency``).

Example:
    >>> from activejob_celery import ApplicationJob, limits_concurrency, unique
    >>> class SyncAccountJob(ApplicationJob):                  # doctest: +SKIP
    ...     limits_concurrency(to=1, key=lambda account_id: account_id)
    ...     def perform(self, account_id): ...
    >>> class DailyReportJob(ApplicationJob):                  # doctest: +SKIP
    ...     unique(until="executed")
    ...     def perform(self, day): ...
"""

from __future__ import annotations

from .declarations import Limit, Uniqueness, limits_concurrency, unique
from .gate import admit, begin_run, end_run
from .locks import KeyState, LockStore
from .stores import Maintenance, store_for_app, unblock

__all__ = [
    "KeyState",
    "Limit",
    "LockStore",
    "Maintenance",
    "Uniqueness",
    "admit",
    "begin_run",
    "end_run",
    "limits_concurrency",
    "store_for_app",
    "unblock",
    "unique",
]
