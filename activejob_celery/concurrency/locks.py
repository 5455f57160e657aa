"""The Redis side: concurrency slots, blocked jobs and unique locks of one app.

They live in the Redis of the scheduled set (``activejob_scheduler_url``, else a Redis broker,
Sentinel included), so a worker and every enqueuing process agree on one place.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..end_of_run import end_of_run_for
from . import scripts

if TYPE_CHECKING:
    import redis

    from ..config import Settings

TAKEN, BLOCKED, CONFLICT = 1, 0, -1


@dataclasses.dataclass(frozen=True)
class KeyState:
    """What one concurrency key holds: its limit, the holders and the blocked jobs in order.

    Example:
        >>> [(s.key, len(s.blocked)) for s in store.keys_in_use()]   # doctest: +SKIP
        [('SyncAccountJob/42', 3)]
    """

    key: str
    limit: int | None
    holders: list[tuple[str, float]]
    """``(job id, slot expiry as a Unix time)``."""
    blocked: list[dict[str, Any]]
    """Parked messages, next first: ``job_id``, ``job_class``, ``queue_name``, ``priority``."""


HANDED_LEASE = 60.0
"""Seconds an unblocked job may take to be published before a maintenance pass republishes it."""


class LockStore:
    """Slots, blocked jobs and unique locks in one Redis.

    Example:
        >>> store = lock_store_for(app)                         # doctest: +SKIP
        >>> store.blocked_count(), [s.key for s in store.keys_in_use()]   # doctest: +SKIP
    """

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client: Any = client  # replies are bytes: decoded by _text
        self.prefix = settings.key("concurrency")
        self.payloads_key = f"{self.prefix}:payloads"
        self.keys_key = f"{self.prefix}:keys"
        self.seq_key = f"{self.prefix}:seq"
        self.limits_key = f"{self.prefix}:limits"
        self.handed_key = f"{self.prefix}:handed"
        self.unique_prefix = settings.key("unique")
        self._acquire = client.register_script(scripts.ACQUIRE)
        self._release = client.register_script(scripts.RELEASE)
        self._unique_acquire = client.register_script(scripts.UNIQUE_ACQUIRE)
        self._unique_release = client.register_script(scripts.UNIQUE_RELEASE)
        self._ack_handed = client.register_script(scripts.ACK_HANDED)
        self._recover_handed = client.register_script(scripts.RECOVER_HANDED)

    def _keys(self, key: str) -> list[str]:
        return [
            f"{self.prefix}:slots:{key}",
            f"{self.prefix}:blocked:{key}",
            self.payloads_key,
            self.keys_key,
            self.seq_key,
            self.limits_key,
        ]

    # ------------------------------------------------------------------ concurrency slots

    def acquire(
        self,
        key: str,
        job_id: str,
        *,
        to: int,
        duration: float,
        block: bool,
        priority: int | None = None,
        parked: dict[str, Any] | None = None,
        push: tuple[bytes, bytes] | None = None,
    ) -> int:
        """Take a slot of ``key`` for ``job_id``: TAKEN, BLOCKED (``parked`` stored) or CONFLICT.

        ``push`` (a list key and a message) is pushed in the same step when the slot is taken.
        """
        now = time.time()
        args: list[Any] = [now, now + duration, to, job_id, "block" if block else "discard"]
        args += [priority or 0, json.dumps(parked or {}), key, repr(float(duration))]
        keys: list[Any] = self._keys(key)
        if push is not None:
            keys.append(push[0])
            args.append(push[1])
        return int(self._acquire(keys=keys, args=args))

    def release(self, key: str, job_id: str) -> list[dict[str, Any]]:
        """Free ``job_id``'s slot (and expired ones); returns the parked messages now holding one.

        Each freed slot goes to one blocked job (lowest priority number, then oldest).
        """
        now = time.time()
        args = [repr(now), job_id, key, repr(now + HANDED_LEASE)]
        reply = self._release(keys=[*self._keys(key), self.handed_key], args=args)
        return [json.loads(raw) for raw in reply]

    def release_later(self, key: str, job_id: str, then: Callable[[list[Any]], None]) -> None:
        """:meth:`release`, sent by the end-of-run writer; ``then`` gets the parked messages."""
        now = time.time()
        args = [repr(now), job_id, key, repr(now + HANDED_LEASE)]
        end_of_run_for(self.client).script(
            self._release,
            [*self._keys(key), self.handed_key],
            args,
            then=lambda reply: then([json.loads(raw) for raw in reply]),
        )

    def handed_over(self, job_ids: list[str]) -> None:
        """Forget unblocked jobs once published (or kept as dead letters): see :meth:`release`."""
        if job_ids:
            self._ack_handed(keys=[self.handed_key, self.payloads_key], args=job_ids)

    def free_expired(self) -> list[dict[str, Any]]:
        """A maintenance pass over every key in use: expired slots go to blocked jobs.

        Also hands out again the unblocked jobs whose publisher died before publishing them
        (their lease of :data:`HANDED_LEASE` seconds ran out): at least once, never lost.
        """
        out: list[dict[str, Any]] = []
        for key in sorted(_text(raw) for raw in self.client.smembers(self.keys_key)):
            out += self.release(key, "")
        now = time.time()
        reply = self._recover_handed(
            keys=[self.handed_key, self.payloads_key], args=[repr(now), repr(now + HANDED_LEASE)]
        )
        return out + [json.loads(raw) for raw in reply]

    # ------------------------------------------------------------------ inspection

    def keys_in_use(self, only: str | None = None) -> list[KeyState]:
        """Every key with a held slot or a blocked job (or just ``only``), sorted by name."""
        names = sorted(_text(raw) for raw in self.client.smembers(self.keys_key))
        if only is not None:
            names = [name for name in names if name == only]
        states = []
        for name in names:
            slots, blocked = self._keys(name)[:2]
            holders = [
                (member.decode(), float(score))
                for member, score in self.client.zrange(slots, 0, -1, withscores=True)
            ]
            members = [m.decode()[21:] for m in self.client.zrange(blocked, 0, -1)]
            parked = self.client.hmget(self.payloads_key, members) if members else []
            known = self.client.hget(self.limits_key, name)
            limit = None if known is None else int(known.split(b":", 1)[0])
            states.append(
                KeyState(
                    key=name,
                    limit=limit,
                    holders=holders,
                    blocked=[_summary(json.loads(raw)) for raw in parked if raw is not None],
                )
            )
        return states

    def blocked_count(self) -> int:
        """How many jobs wait for a slot, all keys together."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hlen(self.payloads_key)
            pipe.zcard(self.handed_key)
            parked, handed = pipe.execute()
        return max(int(parked) - int(handed), 0)

    # ------------------------------------------------------------------ unique locks

    def lock(
        self, key: str, job_id: str, ttl: float, push: tuple[bytes, bytes] | None = None
    ) -> bool:
        """Take (or refresh) the unique lock ``key`` for ``job_id``; False if another holds it.

        ``push`` (a list key and a message) is pushed in the same step when the lock is taken.
        """
        keys: list[Any] = [f"{self.unique_prefix}:{key}"]
        args: list[Any] = [job_id, max(1, int(ttl * 1000))]
        if push is not None:
            keys.append(push[0])
            args.append(push[1])
        return bool(self._unique_acquire(keys=keys, args=args))

    def unlock(self, key: str, job_id: str) -> bool:
        """Delete the unique lock ``key`` if ``job_id`` holds it."""
        return bool(self._unique_release(keys=[f"{self.unique_prefix}:{key}"], args=[job_id]))

    def unlock_later(self, key: str, job_id: str) -> None:
        """:meth:`unlock`, sent by the end-of-run writer (nothing waits for it)."""
        end_of_run_for(self.client).script(
            self._unique_release, [f"{self.unique_prefix}:{key}"], [job_id]
        )

    def lock_holder(self, key: str) -> str | None:
        """The job id holding the unique lock ``key``, if any."""
        holder = self.client.get(f"{self.unique_prefix}:{key}")
        return None if holder is None else _text(holder)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _summary(parked: dict[str, Any]) -> dict[str, Any]:
    payload = parked.get("payload", {})
    return {name: payload.get(name) for name in ("job_id", "job_class", "queue_name", "priority")}
