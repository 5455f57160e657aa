"""The storage side of the dead-letter store: backend primitives, writing and reading.

Backends (:mod:`.redis_store`, :mod:`.memory`) implement the primitives;
:class:`.store.DeadLetterStore` adds the operator actions (retry, discard, purge) on top.
"""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import signals
from ..config import Settings, current_settings
from ..redis_clients import REDIS_SCHEMES
from .filters import Filters
from .record import DeadLetter, DeadLetterNotFoundError, now

if TYPE_CHECKING:
    from celery import Celery

STORE_SCHEMES = (*REDIS_SCHEMES, "memory")
"""URL schemes a store can live at: Redis (``sentinel://`` too) or ``memory`` (in-process)."""
CLAIMED, MISSING, BUSY = 1, 0, -1
"""What :meth:`DeadLetterStore._claim` says of each id."""
CLAIM_LEASE = 300.0
"""Seconds a retry holds its claim: a caller that died between publish and delete is taken
over after this (the job may then run twice, never zero times)."""
Progress = Callable[[int], None]
"""Called with the number of entries just handled (``click.progressbar``'s ``update`` fits)."""


class StoreBackend(ABC):
    """Where dead letters are kept: the primitives a backend implements, and reading them.

    Example:
        >>> store = DeadLetterStore.from_url("memory://docs")             # doctest: +SKIP
        >>> isinstance(store, StoreBackend), store.count()                 # doctest: +SKIP
        (True, 0)
    """

    def __init__(self, *, settings: Settings | None = None, app: Celery | None = None) -> None:
        self.settings = settings or current_settings()
        self.app = app

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
