"""Enqueue after commit on Django: ``transaction.on_commit(publish, using=alias, robust=True)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import connections, transaction

from ..transactions import add_hook

if TYPE_CHECKING:
    from ...base import ApplicationJob


def open_alias() -> str | None:
    """The first database alias (settings order) inside ``atomic()``, or None.

    Example:
        >>> with transaction.atomic():                          # doctest: +SKIP
        ...     open_alias()
        'default'
    """
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            return str(connection.alias)
    return None


def defer_on_commit(job: ApplicationJob, publish: Callable[[], None]) -> bool:
    """Keep ``publish`` for the commit when a transaction is open (robust: nothing escapes it)."""
    alias = open_alias()
    if alias is None:
        return False
    transaction.on_commit(publish, using=alias, robust=True)
    return True


def install() -> None:
    """Defer jobs with ``enqueue_after_transaction_commit`` while ``atomic()`` is open."""
    add_hook(defer_on_commit)
