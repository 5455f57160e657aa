"""``DeadLetterStore``: record, list, show, retry, discard and purge; backends fill in storage."""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import signals
from ..config import Settings, current_settings
from ..errors import ConfigurationError, EnqueueError
from ..redis_clients import REDIS_SCHEMES
from .filters import Filters, cutoff_time
from .record import (
    DeadLetter,
    DeadLetterError,
    DeadLetterNotFoundError,
    NotRetryableError,
    now,
    retry_problem,
)
from .republish import BulkResult, current_app_for_jobs, publish_letters

if TYPE_CHECKING:
    from celery import Celery

STORE_SCHEMES = (*REDIS_SCHEMES, "memory")
"""URL schemes a store can live at: Redis (``sentinel://`` too) or ``memory`` (in-process)."""
CLAIMED, MISSING, BUSY = 1, 0, -1
"""What :meth:`DeadLetterStore._claim` says of each id."""
CLAIM_LEASE = 300.0
"""Seconds a retry holds its claim: a caller that died between publish and delete is taken
over after this (the job may then run twice, never zero times)."""
_GONE = "no such dead letter"
_BUSY = "another caller is retrying it right now"
Progress = Callable[[int], None]
"""Called with the number of entries just handled (``click.progressbar``'s ``update`` fits)."""


class DeadLetterStore(ABC):
    """Jobs that failed for good: write on failure, then list, retry, discard and purge.

    Retention is trimmed on every insert, as Sidekiq trims its dead set: entries older than
    ``activejob_dead_letters_ttl`` go first, then the oldest beyond ``activejob_dead_letters_max``.

    Example:
        >>> store = DeadLetterStore.from_url("redis://localhost:6379/0")   # doctest: +SKIP
        >>> [letter.job_class for letter in store.list(reason="exhausted")]
        ['shop.jobs.GuestsCleanupJob']
        >>> store.retry(store.list()[0].id)                                 # doctest: +SKIP
    """

    def __init__(self, *, settings: Settings | None = None, app: Celery | None = None) -> None:
        self.settings = settings or current_settings()
        self.app = app

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
        if scheme in STORE_SCHEMES[:-1]:
            from .redis_store import RedisDeadLetterStore

            return RedisDeadLetterStore.connect(url, settings=settings, app=app)
        if scheme == "memory":
            from .memory import MemoryDeadLetterStore

            return MemoryDeadLetterStore.named(url, settings=settings, app=app)
        raise ConfigurationError(
            f"The dead-letter store needs Redis; {url!r} is not a redis:// URL. "
            "Set activejob_dead_letters_url = 'redis://host:6379/0'."
        )

    # ------------------------------------------------------------------ backend primitives

    @abstractmethod
    def _insert(
        self, letter_id: str, score: float, record: str, summary: str, cutoff: float
    ) -> int:
        """Add or replace one entry, then trim; returns how many entries were trimmed."""

    @abstractmethod
    def _ids(self, since: float | None = None, until: float | None = None) -> builtins.list[str]:
        """Entry ids, newest first, failed at or after ``since`` and before ``until``."""

    @abstractmethod
    def _summaries(self, ids: Sequence[str]) -> builtins.list[str | None]:
        """The summary JSON of each id (None when it is gone)."""

    @abstractmethod
    def _records(self, ids: Sequence[str]) -> builtins.list[str | None]:
        """The full record JSON of each id (None when it is gone)."""

    @abstractmethod
    def _delete(self, ids: Sequence[str]) -> int:
        """Remove entries; returns how many existed."""

    @abstractmethod
    def _claim(self, ids: Sequence[str], now: float, until: float) -> builtins.list[int]:
        """Atomically claim each id for a retry until ``until``; only one caller wins.

        Returns, per id, :data:`CLAIMED` (this caller won), :data:`MISSING` (no such record)
        or :data:`BUSY` (another caller holds an unexpired claim).
        """

    @abstractmethod
    def _unclaim(self, ids: Sequence[str]) -> None:
        """Give claims back (the publish failed: the records stay, retryable again)."""

    @abstractmethod
    def count(self) -> int:
        """How many dead letters are stored.

        Example:
            >>> store.count()                                   # doctest: +SKIP
            12
        """

    def close(self) -> None:  # noqa: B027 - optional for backends, not abstract
        """Release connections (the store is unusable afterwards)."""

    # ------------------------------------------------------------------ writing

    def record(self, letter: DeadLetter) -> DeadLetter:
        """Store ``letter`` (replacing one with the same id), trim retention, send the signal.

        Raises:
            Exception: whatever the backend raises when it cannot write (the caller decides).
        """
        data = letter.to_dict()
        cutoff = now().timestamp() - self.settings.dead_letters_ttl
        self._insert(
            letter.id,
            letter.failed_at.timestamp(),
            json.dumps(data, separators=(",", ":")),
            json.dumps(letter.summary(), separators=(",", ":")),
            cutoff,
        )
        if signals.dead_letter_recorded.receivers:
            signals.dead_letter_recorded.send(self, dead_letter=letter)
        return letter

    # ------------------------------------------------------------------ reading

    def list(self, *, limit: int | None = None, **filters: Any) -> builtins.list[DeadLetter]:
        """Records matching ``filters``, newest first.

        Filters: ``job_class``, ``queue_name``, ``error_class`` (full or bare class names),
        ``reason``, ``since`` (datetime, timedelta back from now, or epoch seconds).

        Example:
            >>> store.list(job_class="GuestsCleanupJob", since=timedelta(hours=1))  # doctest: +SKIP
        """
        ids = self.ids(limit=limit, **filters)
        return [letter for letter in self._load(ids) if letter is not None]

    def ids(
        self, *, limit: int | None = None, batch_size: int = 500, **filters: Any
    ) -> builtins.list[str]:
        """Ids of the records matching ``filters`` (see :meth:`list`), newest first."""
        wanted = Filters.build(**filters)
        candidates = self._ids(since=wanted.since)
        if not wanted.needs_summary:
            return candidates if limit is None else candidates[:limit]
        found: builtins.list[str] = []
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]
            for letter_id, summary in zip(chunk, self._summaries(chunk), strict=True):
                if summary is not None and wanted.matches(json.loads(summary)):
                    found.append(letter_id)
                    if limit is not None and len(found) >= limit:
                        return found
        return found

    def get(self, letter_id: str) -> DeadLetter | None:
        """The record with this id, or None.

        Example:
            >>> store.get(letter_id).traceback                  # doctest: +SKIP
        """
        [letter] = self._load([letter_id])
        return letter

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of the one record whose id is or starts with ``id_or_prefix``.

        Raises:
            DeadLetterNotFoundError: no record, or more than one, matches.
        """
        if self.get(id_or_prefix) is not None:
            return id_or_prefix
        matches = [letter_id for letter_id in self._ids() if letter_id.startswith(id_or_prefix)]
        if len(matches) == 1:
            return matches[0]
        detail = f" (it starts {len(matches)} ids; give more of it)" if matches else ""
        raise DeadLetterNotFoundError(id_or_prefix, detail)

    def count_by_class(self, batch_size: int = 500) -> dict[str, int]:
        """How many records each job class has (``"(unknown)"`` when there is none)."""
        counts: Counter[str] = Counter()
        for summary in self._iter_summaries(self._ids(), batch_size):
            counts[summary.get("job_class") or "(unknown)"] += 1
        return dict(counts.most_common())

    def _iter_summaries(self, ids: builtins.list[str], batch_size: int) -> Iterator[dict[str, Any]]:
        for start in range(0, len(ids), batch_size):
            for summary in self._summaries(ids[start : start + batch_size]):
                if summary is not None:
                    yield json.loads(summary)

    def _load(self, ids: Sequence[str]) -> builtins.list[DeadLetter | None]:
        return [
            None if record is None else DeadLetter.from_dict(json.loads(record))
            for record in self._records(ids)
        ]

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
