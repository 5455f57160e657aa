"""Enqueue after the outermost commit of a SQLAlchemy session, savepoint by savepoint.

Jobs are kept per ``SessionTransaction``. A released savepoint hands its jobs to its parent (its
``after_commit`` is not the real commit); a rolled-back savepoint drops only its own; the root
transaction publishes them after it commits and drops them when it rolls back.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from .global_ids import LOCATOR_SESSION

if TYPE_CHECKING:
    from ...base import ApplicationJob

PENDING = "activejob_pending"
COMMITTED = "activejob_committed"


class TransactionTracker:
    """Tracks the sessions of a factory with an open transaction, per thread.

    Example:
        >>> tracker = TransactionTracker(Session)              # doctest: +SKIP
        >>> add_hook(tracker.defer)                            # doctest: +SKIP
    """

    def __init__(self, session_factory: Any) -> None:
        self._local = threading.local()
        event.listen(session_factory, "after_transaction_create", self._created)
        event.listen(session_factory, "after_commit", self._committed)
        event.listen(session_factory, "after_transaction_end", self._ended)

    def _open(self) -> list[weakref.ref[Session]]:
        # Weak: a session dropped without close() must neither be kept alive nor take jobs.
        sessions: list[weakref.ref[Session]] | None = getattr(self._local, "sessions", None)
        if sessions is None:
            sessions = self._local.sessions = []
        return sessions

    def current(self) -> Session | None:
        """This thread's newest session of the factory with a transaction open, or None."""
        sessions = self._open()
        while sessions:
            session = sessions[-1]()
            if session is not None and session.in_transaction():
                return session
            sessions.pop()
        return None

    def defer(self, job: ApplicationJob, publish: Callable[[], None]) -> bool:
        """Keep ``publish`` on the innermost transaction of this thread's newest open session."""
        session = self.current()
        if session is None:
            return False
        transaction = session.get_nested_transaction() or session.get_transaction()
        if transaction is None:
            return False
        session.info.setdefault(PENDING, {}).setdefault(transaction, []).append(publish)
        return True

    def _created(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None and not session.info.get(LOCATOR_SESSION):
            self._open().append(weakref.ref(session))

    def _committed(self, session: Session) -> None:
        # Fires on the real commit and on a savepoint release, before the transaction closes.
        transaction = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(COMMITTED, set()).add(transaction)

    def _ended(self, session: Session, transaction: SessionTransaction) -> None:
        committed = session.info.get(COMMITTED, set())
        was_committed = transaction in committed
        committed.discard(transaction)
        jobs = session.info.get(PENDING, {}).pop(transaction, [])
        if transaction.parent is None:
            sessions = self._open()
            sessions[:] = [ref for ref in sessions if ref() not in (None, session)]
        if not jobs or not was_committed:
            return  # rolled back: its jobs are dropped
        if transaction.parent is not None:  # savepoint released: the outer one decides
            pending = session.info.setdefault(PENDING, {})
            pending.setdefault(transaction.parent, []).extend(jobs)
            return
        for publish in jobs:
            publish()
