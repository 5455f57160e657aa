"""An in-process dead-letter store (``memory://name``): same behaviour as Redis, for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from .store import BUSY, CLAIMED, MISSING, DeadLetterStore

if TYPE_CHECKING:
    from celery import Celery

    from ..config import Settings


class MemoryDeadLetterStore(DeadLetterStore):
    """Dead letters in a dict of this process; one shared instance per ``memory://`` URL.

    Example:
        >>> store = DeadLetterStore.from_url("memory://unit-tests")
        >>> store is DeadLetterStore.from_url("memory://unit-tests")
        True
    """

    schemes: ClassVar[tuple[str, ...]] = ("memory",)
    _named: ClassVar[dict[str, MemoryDeadLetterStore]] = {}
    _named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, *, settings: Settings | None = None, app: Celery | None = None) -> None:
        super().__init__(settings=settings, app=app)
        self._lock = threading.Lock()
        self._scores: dict[str, float] = {}
        self._record_json: dict[str, str] = {}
        self._summary_json: dict[str, str] = {}
        self._claims: dict[str, float] = {}

    @classmethod
    def open(
        cls, url: str, *, settings: Settings | None = None, app: Celery | None = None
    ) -> MemoryDeadLetterStore:
        """The shared store for ``url`` (see :meth:`named`)."""
        return cls.named(url, settings=settings, app=app)

    @classmethod
    def named(
        cls, url: str, *, settings: Settings | None = None, app: Celery | None = None
    ) -> MemoryDeadLetterStore:
        """The shared store for ``url``; settings and app are updated when given."""
        with cls._named_lock:
            store = cls._named.get(url)
            if store is None:
                store = cls._named[url] = cls(settings=settings, app=app)
            else:
                store.settings = settings or store.settings
                store.app = app or store.app
            return store

    def _insert(
        self, letter_id: str, score: float, record: str, summary: str, cutoff: float
    ) -> int:
        with self._lock:
            self._scores[letter_id] = score
            self._record_json[letter_id] = record
            self._summary_json[letter_id] = summary
            expired = [key for key, value in self._scores.items() if value < cutoff]
            oldest_first = sorted(
                (key for key in self._scores if key not in expired), key=self._scores.__getitem__
            )
            excess = len(oldest_first) - self.settings.dead_letters_max
            doomed = expired + (oldest_first[:excess] if excess > 0 else [])
            self._remove(doomed)
            return len(doomed)

    def _ids(self, since: float | None = None, until: float | None = None) -> list[str]:
        with self._lock:
            chosen = [
                (score, key)
                for key, score in self._scores.items()
                if (since is None or score >= since) and (until is None or score < until)
            ]
        return [key for _, key in sorted(chosen, reverse=True)]

    def _summaries(self, ids: Sequence[str]) -> list[str | None]:
        with self._lock:
            return [self._summary_json.get(key) for key in ids]

    def _records(self, ids: Sequence[str]) -> list[str | None]:
        with self._lock:
            return [self._record_json.get(key) for key in ids]

    def _delete(self, ids: Sequence[str]) -> int:
        with self._lock:
            return self._remove(ids)

    def _remove(self, ids: Sequence[str]) -> int:
        removed = 0
        for key in ids:
            if self._scores.pop(key, None) is not None:
                removed += 1
            self._record_json.pop(key, None)
            self._summary_json.pop(key, None)
            self._claims.pop(key, None)
        return removed

    def _claim(self, ids: Sequence[str], now: float, until: float) -> list[int]:
        states: list[int] = []
        with self._lock:
            for key in ids:
                if key not in self._record_json:
                    states.append(MISSING)
                elif self._claims.get(key, now) > now:
                    states.append(BUSY)
                else:
                    self._claims[key] = until
                    states.append(CLAIMED)
        return states

    def _unclaim(self, ids: Sequence[str]) -> None:
        with self._lock:
            for key in ids:
                self._claims.pop(key, None)

    def count(self) -> int:
        """How many dead letters are stored."""
        with self._lock:
            return len(self._scores)

    def clear(self) -> None:
        """Forget every record (tests call it between cases)."""
        with self._lock:
            self._scores.clear()
            self._record_json.clear()
            self._summary_json.clear()
            self._claims.clear()
