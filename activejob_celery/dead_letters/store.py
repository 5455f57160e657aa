"""``DeadLetterStore``: record, list, show, retry, discard and purge; backends fill in storage."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from .. import signals
from ..config import Settings
from ..errors import ConfigurationError, EnqueueError
from .backend import (
    BUSY,
    CLAIM_LEASE,
    CLAIMED,
    MISSING,
    STORE_SCHEMES,
    Progress,
    StoreBackend,
)
from .filters import cutoff_time
from .record import (
    DeadLetterError,
    DeadLetterNotFoundError,
    NotRetryableError,
    now,
    retry_problem,
)
from .republish import BulkResult, current_app_for_jobs, publish_letters

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "BUSY",
    "CLAIMED",
    "CLAIM_LEASE",
    "MISSING",
    "STORE_SCHEMES",
    "DeadLetterStore",
    "Progress",
]

_backends: dict[str, type[DeadLetterStore]] = {}
"""URL scheme -> the backend class that opens it (filled as the backends are defined)."""
_GONE = "no such dead letter"
_BUSY = "another caller is retrying it right now"


class DeadLetterStore(StoreBackend):
    """Jobs that failed for good: write on failure, then list, retry, discard and purge.

    Retention is trimmed on every insert, as Sidekiq trims its dead set: entries older than
    ``activejob_dead_letters_ttl`` go first, then the oldest beyond ``activejob_dead_letters_max``.

    Example:
        >>> store = DeadLetterStore.from_url("redis://localhost:6379/0")   # doctest: +SKIP
        >>> [letter.job_class for letter in store.list(reason="exhausted")]
        ['shop.jobs.GuestsCleanupJob']
        >>> store.retry(store.list()[0].id)                                 # doctest: +SKIP
    """

    @classmethod
    def from_url(
        cls, url: str, *, settings: Settings | None = None, app: Celery | None = None
    ) -> DeadLetterStore:
        """The store at ``url``: a Redis URL (``sentinel://`` too) or ``memory://name``.

        Example:
            >>> DeadLetterStore.from_url("memory://tests").count()
            0
        """
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        backend = _backends.get(scheme) if scheme in STORE_SCHEMES else None
        if backend is not None:
            return backend.open(url, settings=settings, app=app)
        raise ConfigurationError(
            f"The dead-letter store needs Redis; {url!r} is not a redis:// URL. "
            "Set activejob_dead_letters_url = 'redis://host:6379/0'."
        )

    schemes: ClassVar[tuple[str, ...]] = ()
    """The URL schemes a backend class opens (:meth:`open`); the package imports each backend."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for scheme in cls.__dict__.get("schemes", ()):
            _backends[scheme] = cls

    @classmethod
    def open(
        cls, url: str, *, settings: Settings | None = None, app: Celery | None = None
    ) -> DeadLetterStore:
        """The store of this backend at ``url`` (a backend class with :attr:`schemes` says how).

        Example:
            >>> MemoryDeadLetterStore.open("memory://tests").count()   # doctest: +SKIP
            0
        """
        raise ConfigurationError(f"{cls.__name__} opens no URL")

    # ------------------------------------------------------------------ operating

    def retry(self, letter_id: str) -> str:
        """Enqueue the job again (same ``job_id``, counters reset), then remove the record.

        Returns the Celery task id of the new message. The record stays when publishing fails.

        Raises:
            DeadLetterNotFoundError: no such record.
            NotRetryableError: the record holds no job payload (a malformed message).
            EnqueueError: the broker did not take the message.

        Example:
            >>> store.retry("7c0e9d6b-…")                        # doctest: +SKIP
            'a1d3…'
        """
        letter = self.get(letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(letter_id)
        problem = retry_problem(letter)
        if problem is not None:
            raise NotRetryableError(letter_id, problem)
        result = self.retry_many([letter_id])
        if letter_id in result.retried:
            return result.retried[letter_id]
        why = result.failed.get(letter_id, "the message was not published")
        if why == _GONE:
            raise DeadLetterNotFoundError(letter_id, " (another caller retried or removed it)")
        if why == _BUSY:
            raise DeadLetterError(f"Dead letter {letter_id} is not retried: {why}")
        raise EnqueueError(why)

    def retry_many(
        self, ids: Sequence[str], *, batch_size: int = 100, progress: Progress | None = None
    ) -> BulkResult:
        """Retry many records, publishing each batch through one producer; see :meth:`retry`.

        Each record is claimed first, atomically, so two callers retrying the same record
        (two clicks, two operators) publish it once; a record whose publish fails is given
        back, and stays.
        """
        result = BulkResult()
        app = self.app or current_app_for_jobs()
        for start in range(0, len(ids), batch_size):
            chunk = list(ids[start : start + batch_size])
            claimed = self._claim_for_retry(chunk, result)
            published = publish_letters(app, zip(claimed, self._load(claimed), strict=True), result)
            # Removed only once published: a crash in between enqueues twice, never loses.
            done = {letter.id for letter, _ in published}
            self._delete(sorted(done))
            self._unclaim([letter_id for letter_id in claimed if letter_id not in done])
            for letter, task_id in published:
                result.retried[letter.id] = task_id
                if signals.dead_letter_retried.receivers:
                    signals.dead_letter_retried.send(
                        self, dead_letter=letter, provider_job_id=task_id
                    )
            if progress is not None:
                progress(len(chunk))
        return result

    def _claim_for_retry(self, chunk: builtins.list[str], result: BulkResult) -> builtins.list[str]:
        moment = now().timestamp()
        claimed: builtins.list[str] = []
        for letter_id, state in zip(
            chunk, self._claim(chunk, moment, moment + CLAIM_LEASE), strict=True
        ):
            if state == CLAIMED:
                claimed.append(letter_id)
            else:
                result.failed[letter_id] = _GONE if state == MISSING else _BUSY
        return claimed

    def discard(self, letter_id: str) -> bool:
        """Remove one record for good; returns whether it existed.

        Example:
            >>> store.discard("7c0e9d6b-…")                      # doctest: +SKIP
            True
        """
        return self.discard_many([letter_id]) == 1

    def discard_many(
        self, ids: Sequence[str], *, batch_size: int = 500, progress: Progress | None = None
    ) -> int:
        """Remove many records in batches, sending ``dead_letter_discarded`` for each."""
        removed = 0
        for start in range(0, len(ids), batch_size):
            chunk = list(ids[start : start + batch_size])
            letters = [letter for letter in self._load(chunk) if letter is not None]
            removed += self._delete(chunk)
            if signals.dead_letter_discarded.receivers:
                for letter in letters:
                    signals.dead_letter_discarded.send(self, dead_letter=letter)
            if progress is not None:
                progress(len(chunk))
        return removed

    def purge(
        self,
        older_than: timedelta | float | datetime | None = None,
        *,
        batch_size: int = 1000,
        progress: Progress | None = None,
    ) -> int:
        """Remove every record that failed before ``now - older_than`` (all of them with None).

        ``older_than`` is a timedelta, seconds, or a datetime cut-off. No per-record signal.

        Example:
            >>> store.purge(older_than=timedelta(days=30))      # doctest: +SKIP
            214
        """
        until = None if older_than is None else cutoff_time(older_than)
        ids = self._ids(until=until)
        removed = 0
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            removed += self._delete(chunk)
            if progress is not None:
                progress(len(chunk))
        return removed
