"""The scheduled set in Redis: write entries, release due ones, and inspect or change what waits."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from ..config import redis_location
from ..core import parse_time
from ..errors import MalformedPayloadError
from ..failures import job_failed
from . import scripts
from .entries import ScheduledJob, decode_value
from .setaside import is_outage, set_aside

if TYPE_CHECKING:
    import redis

    from ..adapters.celery import CeleryAdapter
    from ..config import Settings

logger = logging.getLogger(__name__)

_PAGE = 500

Jobs = list[ScheduledJob]
Members = list[tuple[str, float, bool]]
"""``(member, score, claimed)`` of entries found in the set or among the claims."""


@dataclasses.dataclass(frozen=True)
class Release:
    """One release pass: jobs moved to their queues, failures left claimed, the next run time."""

    released: int
    next_at: float | None
    failed: int = 0


class ScheduledSet:
    """The jobs of one app waiting for their time: a sorted set scored by run time.

    Keys (under ``activejob_key_prefix``): ``<prefix>:scheduled`` (member -> run time),
    ``<prefix>:scheduled:entries`` (member -> entry) and ``<prefix>:scheduled:claims``
    (member -> lease deadline, for entries a poller is publishing through Celery).

    Example:
        >>> jobs = scheduled_set_for(app)                        # doctest: +SKIP
        >>> jobs.count(), [job.job_id for job in jobs.list(limit=5)]  # doctest: +SKIP
    """

    def __init__(
        self, client: redis.Redis, settings: Settings, adapter: CeleryAdapter, *, direct: bool
    ) -> None:
        self.client = client
        self.adapter = adapter
        self.direct = direct
        """Entries are ready-made messages pushed by a Lua script (the broker is this Redis db)."""
        self.key = settings.key("scheduled")
        self.entries_key = settings.key("scheduled", "entries")
        self.claims_key = settings.key("scheduled", "claims")
        self.lease = settings.scheduler_lease
        self.batch_size = min(settings.scheduler_batch_size, scripts.MAX_BATCH)
        self._add = client.register_script(scripts.ADD)
        self._release = client.register_script(scripts.RELEASE)
        self._ack = client.register_script(scripts.ACK)
        self._listeners: list[Callable[[float], None]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redis_location(self.client)} {self.key}>"

    # ------------------------------------------------------------------ writing

    def add(self, entries: list[tuple[str, bytes, float]]) -> None:
        """Store ``(member, value, run time)`` entries, 1 000 per atomic call; wake pollers."""
        keys = [self.key, self.entries_key]
        for start in range(0, len(entries), 1000):
            args: list[Any] = []
            for member, value, at in entries[start : start + 1000]:
                args += [member, value, repr(at)]
            self._add(keys=keys, args=args)
        if entries and self._listeners:
            earliest = min(at for _, _, at in entries)
            for listener in list(self._listeners):
                listener(earliest)

    def add_listener(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(run_at)`` when this process adds entries (a local poller wakes early)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ------------------------------------------------------------------ releasing

    def release(self, *, now: float | None = None, members: list[str] | None = None) -> Release:
        """Move one batch of due jobs (or exactly ``members``) onto their queues.

        Direct entries are pushed by the script, atomically with their removal. Others are
        claimed with a lease, published through Celery here, then forgotten; a claim whose
        poller died is taken over by the next release after its lease runs out.

        Example:
            >>> scheduled_set_for(app).release().released          # doctest: +SKIP
            12
        """
        now = time.time() if now is None else now
        args: list[Any] = [repr(now), self.batch_size, repr(now + self.lease), int(self.direct)]
        reply = self._release(
            keys=[self.key, self.entries_key, self.claims_key], args=args + list(members or ())
        )
        pushed, next_score = int(reply[0]), reply[1]
        handed = [(reply[i].decode(), reply[i + 1]) for i in range(2, len(reply), 2)]
        published, failed = self._publish(handed) if handed else (0, 0)
        next_at = float(next_score) if next_score else None
        return Release(released=pushed + published, next_at=next_at, failed=failed)

    def _publish(self, handed: list[tuple[str, bytes]]) -> tuple[int, int]:
        done: list[str] = []
        aside: list[str] = []
        store_down = False
        app = self.adapter.app
        try:
            with app.producer_or_acquire() as producer:
                for member, value in handed:
                    try:
                        self._publish_one(member, value, producer)
                    except Exception as error:
                        if is_outage(error, producer):
                            raise
                        # Its own problem: a dead letter (or, store down, wait for the lease).
                        kept = not store_down and set_aside(app, member, value, error)
                        aside += [member] if kept else []
                        store_down = not kept
                        continue
                    done.append(member)
        except Exception as error:
            # The broker is failing: stop; the rest stay claimed until their lease runs out.
            logger.warning(
                "Could not publish %d scheduled job(s) (retried in %.0fs, when their lease "
                "runs out): %s",
                len(handed) - len(done) - len(aside),
                self.lease,
                error,
            )
        finally:
            if done or aside:
                values = dict(handed)
                pairs = [item for member in done + aside for item in (member, values[member])]
                self._ack(keys=[self.entries_key, self.claims_key], args=pairs)
        return len(done), len(handed) - len(done)

    def _publish_one(self, member: str, value: bytes, producer: Any) -> None:
        try:
            envelope = decode_value(value)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            self._drop_malformed(value, error)
            return
        # A direct entry routed through a named exchange keeps that route.
        exchange = envelope.get("exchange") or None
        self.adapter.send(
            envelope["task"],
            envelope["payload"],
            task_id=envelope["id"],
            queue=None if exchange else envelope.get("queue"),
            exchange=exchange,
            routing_key=envelope.get("routing_key") if exchange else None,
            priority=envelope.get("priority"),
            producer=producer,
            argsrepr=envelope.get("argsrepr"),
            kwargsrepr=envelope.get("kwargsrepr"),
        )

    def _drop_malformed(self, value: bytes, error: BaseException) -> None:
        problem = MalformedPayloadError(f"unreadable scheduled entry: {error}")
        job_failed(
            {"scheduled_entry": value.decode(errors="replace")},
            problem,
            reason="malformed_message",
            job=None,
        )

    # ------------------------------------------------------------------ inspecting

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
        return self.release(members=members).released

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
