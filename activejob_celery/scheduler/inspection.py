"""Reading and editing what waits in the scheduled set: count, list, get, run now, delete."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from ..core import parse_time
from .entries import ScheduledJob

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

_PAGE = 500

Jobs = list[ScheduledJob]
Members = list[tuple[str, float, bool]]
"""``(member, score, claimed)`` of entries found in the set or among the claims."""


class ScheduledInspection:
    """What operators do with waiting jobs; :class:`.store.ScheduledSet` adds writing and release.

    Example:
        >>> jobs = scheduled_set_for(app)                        # doctest: +SKIP
        >>> jobs.count(), jobs.get(job.job_id).run_at            # doctest: +SKIP
    """

    client: redis.Redis
    key: str
    entries_key: str
    claims_key: str
    release: Callable[..., Any]

    def count(self) -> int:
        """How many jobs wait (including those a poller is publishing right now)."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(self.key)
            pipe.zcard(self.claims_key)
            waiting, claimed = pipe.execute()
        return int(waiting) + int(claimed)

    def list(
        self, limit: int | None = 100, *, queue: str | None = None, job_class: str | None = None
    ) -> Jobs:
        """Waiting jobs, soonest first (claimed ones first of all), optionally filtered.

        Example:
            >>> scheduled_set_for(app).list(limit=10, queue="mailers")  # doctest: +SKIP
        """
        found: Jobs = []
        for job in self._iterate():
            if queue is not None and job.queue_name != queue:
                continue
            if job_class is not None and job_class not in (job.job_class, job.class_name):
                continue
            found.append(job)
            if limit is not None and len(found) >= limit:
                break
        return found

    def get(self, job_id: str) -> ScheduledJob | None:
        """The waiting job with this ``job_id`` (or Celery task id), soonest first; None if none.

        Example:
            >>> scheduled_set_for(app).get(job.job_id).run_at      # doctest: +SKIP
        """
        jobs = self._load(self._members_of(job_id))
        return min(jobs, key=lambda job: (not job.claimed, job.run_at)) if jobs else None

    def run_now(self, job_id: str) -> int:
        """Publish the waiting job(s) with this id at once; returns how many were released.

        Example:
            >>> scheduled_set_for(app).run_now(job.job_id)         # doctest: +SKIP
            1
        """
        members = [member for member, _, claimed in self._members_of(job_id) if not claimed]
        if not members:
            return 0
        return int(self.release(members=members).released)

    def delete(self, job_id: str) -> int:
        """Remove the waiting job(s) with this id; returns how many were removed.

        Example:
            >>> scheduled_set_for(app).delete(job.job_id)          # doctest: +SKIP
            1
        """
        members = [member for member, _, _ in self._members_of(job_id)]
        if not members:
            return 0
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self.key, *members)
            pipe.zrem(self.claims_key, *members)
            pipe.hdel(self.entries_key, *members)
            waiting, claimed, _ = pipe.execute()
        return int(waiting) + int(claimed)

    def _members_of(self, job_id: str) -> Members:
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", job_id)
        found: Members = []
        for pattern in (f"{escaped}/*", f"*/{escaped}"):
            for key, claimed in ((self.claims_key, True), (self.key, False)):
                for member, score in self.client.zscan_iter(key, match=pattern, count=1000):
                    found.append((member.decode(), float(score), claimed))
            if found:
                break
        return found

    def _iterate(self) -> Iterator[ScheduledJob]:
        for key, claimed in ((self.claims_key, True), (self.key, False)):
            start = 0
            while True:
                page = cast(
                    "list[tuple[bytes, float]]",
                    self.client.zrange(key, start, start + _PAGE - 1, withscores=True),
                )
                if not page:
                    break
                start += len(page)
                yield from self._load([(m.decode(), float(s), claimed) for m, s in page])

    def _load(self, members: Members) -> Jobs:
        if not members:
            return []
        values = cast(
            "list[bytes | None]",
            self.client.hmget(self.entries_key, [member for member, _, _ in members]),
        )
        jobs: Jobs = []
        for (member, score, claimed), value in zip(members, values, strict=True):
            job = None if value is None else self._decode(member, value, score, claimed)
            if job is not None:
                jobs.append(job)
        return jobs

    def _decode(
        self, member: str, value: bytes, score: float, claimed: bool
    ) -> ScheduledJob | None:
        try:
            job = ScheduledJob.decode(member, value, score, claimed=claimed)
        except (ValueError, KeyError, TypeError, IndexError):
            logger.warning("Skipping unreadable scheduled entry %s", member)
            return None
        scheduled_at = job.payload.get("scheduled_at")
        if claimed and isinstance(scheduled_at, str):
            # A claim's score is its lease deadline; the payload keeps the run time.
            return dataclasses.replace(job, run_at=parse_time(scheduled_at))
        return job
