"""The scheduled set in Redis: write entries, release due ones, and inspect or change what waits."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from ..config import redis_location
from ..errors import MalformedPayloadError
from ..failures import job_failed
from ..packed_commands import run, usable
from ..resp import pack
from . import scripts
from .entries import decode_value
from .inspection import ScheduledInspection
from .setaside import is_outage, set_aside

if TYPE_CHECKING:
    import redis

    from ..adapters.celery import CeleryAdapter
    from ..config import Settings

logger = logging.getLogger(__name__)

Also = list[list[Any]] | Callable[[Any], None]
"""More commands for an ``add``'s round trip: commands (name and arguments), or a function."""


@dataclasses.dataclass(frozen=True)
class Release:
    """One release pass: jobs moved to their queues, failures left claimed, the next run time."""

    released: int
    next_at: float | None
    failed: int = 0
    blocked: int = 0
    """Due jobs parked as blocked: their concurrency key had no free slot."""
    put_off: int = 0
    """Due ``while_executing`` jobs left waiting a little longer: a duplicate was running."""


class ScheduledSet(ScheduledInspection):
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
        self.ahead = float(settings.release_ahead)
        """The early release window: jobs due within it go to their queue now, with an eta."""
        self.concurrency_prefix = settings.key("concurrency")
        """Where a gated entry takes its slot (the lock store's keys, same Redis)."""
        self.unique_prefix = settings.key("unique")
        """Where a gated entry finds the run lock of a ``while_executing`` duplicate."""
        self._add = client.register_script(scripts.ADD)
        self._release = client.register_script(scripts.RELEASE)
        self._ack = client.register_script(scripts.ACK)
        self._listeners: list[Callable[[float], None]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redis_location(self.client)} {self.key}>"

    # ------------------------------------------------------------------ writing

    def add(self, entries: list[tuple[str, bytes, float]], also: Also | None = None) -> None:
        """Store ``(member, value, run time)`` entries, 1 000 per atomic call; wake pollers.

        ``also`` adds more commands (the jobs' status) to the first call's round trip: a list
        of commands (name and arguments), or a function given the pipeline. On a plain pool
        each call is packed by hand and sent in one write (:mod:`..packed_commands`).
        """
        keys = [self.key, self.entries_key]
        for start in range(0, len(entries), 1000):
            args: list[Any] = []
            for member, value, at in entries[start : start + 1000]:
                args += [member, value, repr(at)]
            if not callable(also) and usable(self.client):
                self._add_packed(keys, args, also or [])
            elif also is None:
                self._add(keys=keys, args=args)
            else:
                with self.client.pipeline(transaction=False) as pipe:
                    self._add(keys=keys, args=args, client=pipe)
                    if callable(also):
                        also(pipe)
                    else:
                        for command in also:
                            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
                    pipe.execute()
            also = None
        if entries and self._listeners:
            earliest = min(at for _, _, at in entries)
            for listener in list(self._listeners):
                listener(earliest)

    def _add_packed(self, keys: list[str], args: list[Any], also: list[list[Any]]) -> None:
        """One chunk's ``ADD`` and ``also``'s commands in one MULTI/EXEC, packed by hand."""
        encode: Callable[[Any], bytes] = self.client.get_encoder().encode
        commands = [pack([encode(arg) for arg in ["EVALSHA", self._add.sha, 2, *keys, *args]])]
        commands += [pack([encode(arg) for arg in command]) for command in also]
        try:
            run(self.client, commands)
        except NoScriptError:  # a Redis that restarted or flushed its scripts: also ran
            self._add(keys=keys, args=args)  # redis-py's wrapper loads the script and sends

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
        poller died is taken over by the next release after its lease runs out. Jobs due
        within :attr:`ahead` seconds go too, with their run time as the message's ``eta``
        (the worker holds them until then), unless ``members`` are given.

        Example:
            >>> scheduled_set_for(app).release().released          # doctest: +SKIP
            12
        """
        now = time.time() if now is None else now
        args: list[Any] = [repr(now), self.batch_size, repr(now + self.lease), int(self.direct)]
        args += [self.concurrency_prefix, repr(self.ahead)]
        reply = self._release(
            keys=[self.key, self.entries_key, self.claims_key], args=args + list(members or ())
        )
        pushed, next_score, blocked = int(reply[0]), reply[1], reply[2]
        for i in range(0, len(blocked), 2):
            logger.info(
                "Blocked job_id %s by its concurrency limit as it became due: %s has no free slot",
                blocked[i].decode(), blocked[i + 1].decode(),
            )  # fmt: skip
        handed = [
            (reply[i].decode(), reply[i + 1], float(reply[i + 2]) if reply[i + 2] else None)
            for i in range(4, len(reply), 3)
        ]
        published, failed = self._publish(handed) if handed else (0, 0)
        next_at = float(next_score) if next_score else None
        return Release(pushed + published, next_at, failed, len(blocked) // 2, int(reply[3]))

    def _publish(self, handed: list[tuple[str, bytes, float | None]]) -> tuple[int, int]:
        done: list[str] = []
        aside: list[str] = []
        store_down = False
        app = self.adapter.app
        try:
            with app.producer_or_acquire() as producer:
                for member, value, eta in handed:
                    try:
                        self._publish_one(member, value, producer, eta)
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
                values = {member: value for member, value, _ in handed}
                pairs = [item for member in done + aside for item in (member, values[member])]
                self._ack(keys=[self.entries_key, self.claims_key], args=pairs)
        return len(done), len(handed) - len(done)

    def _publish_one(self, member: str, value: bytes, producer: Any, eta: float | None) -> None:
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
            eta=None if eta is None else datetime.fromtimestamp(eta, timezone.utc),
        )

    def _drop_malformed(self, value: bytes, error: BaseException) -> None:
        problem = MalformedPayloadError(f"unreadable scheduled entry: {error}")
        job_failed(
            {"scheduled_entry": value.decode(errors="replace")},
            problem,
            reason="malformed_message",
            job=None,
        )
