"""Whether a database transaction is open at a checkpoint (Rails' ``CheckpointError`` guard).

A job interrupted inside a transaction would re-enqueue itself with progress the rollback then
undoes. Django's ``atomic()`` is checked when Django is loaded; other libraries add a check.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

_checks: list[Callable[[], bool]] = []


def add_transaction_check(check: Callable[[], bool]) -> None:
    """Make checkpoints refuse to run while ``check()`` is true (a transaction is open).

    Example:
        >>> add_transaction_check(lambda: session.in_transaction())   # doctest: +SKIP
    """
    if check not in _checks:
        _checks.append(check)


def remove_transaction_check(check: Callable[[], bool]) -> None:
    """Undo :func:`add_transaction_check`."""
    if check in _checks:
        _checks.remove(check)


def _django_atomic() -> bool:
    db = sys.modules.get("django.db")
    if db is None:
        return False  # Django not in use: nothing to import
    try:
        return any(c.in_atomic_block for c in db.connections.all(initialized_only=True))
    except Exception:  # Django imported but not configured: no connection can be open
        return False


def open_transaction() -> bool:
    """Whether any known database transaction is open in this thread.

    Example:
        >>> open_transaction()
        False
    """
    return _django_atomic() or any(check() for check in _checks)
