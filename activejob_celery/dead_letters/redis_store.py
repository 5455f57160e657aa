"""The Redis dead-letter store: a sorted set by failure time plus two hashes, trimmed in Lua.

Keys (under ``activejob_key_prefix``): ``activejob:dead`` (zset id -> failed_at),
``activejob:dead:records`` (hash id -> full JSON) and ``activejob:dead:summaries`` (hash id ->
JSON without payload and traceback, so listing never loads large payloads), plus
``activejob:dead:claims`` (hash id -> claim deadline, while a retry publishes the record).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ..config import redis_location
from ..redis_clients import REDIS_SCHEMES, connect
from ..runtime import runtime_for
from .store import DeadLetterStore

if TYPE_CHECKING:
    from celery import Celery

    from ..config import Settings

# Insert, then trim by age and by count, atomically. Deletes go in chunks because Lua's
# unpack() is limited to a few thousand values.
_INSERT_AND_TRIM = """
local index, records, summaries = KEYS[1], KEYS[2], KEYS[3]
redis.call('ZADD', index, ARGV[2], ARGV[1])
redis.call('HSET', records, ARGV[1], ARGV[3])
redis.call('HSET', summaries, ARGV[1], ARGV[4])
local removed = 0
local function drop(ids)
  for i = 1, #ids, 500 do
    local chunk = {unpack(ids, i, math.min(i + 499, #ids))}
    redis.call('ZREM', index, unpack(chunk))
    redis.call('HDEL', records, unpack(chunk))
    redis.call('HDEL', summaries, unpack(chunk))
  end
  removed = removed + #ids
end
drop(redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[5]))
local excess = redis.call('ZCARD', index) - tonumber(ARGV[6])
if excess > 0 then drop(redis.call('ZRANGE', index, 0, excess - 1)) end
return removed
"""

# Claim records for a retry: one caller wins each record; an expired claim can be taken over.
_CLAIM = """
local records, claims = KEYS[1], KEYS[2]
local now, deadline = tonumber(ARGV[1]), ARGV[2]
local states = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local state = 0
  if redis.call('HEXISTS', records, id) == 1 then
    local held = redis.call('HGET', claims, id)
    if held and tonumber(held) > now then
      state = -1
    else
      redis.call('HSET', claims, id, deadline)
      state = 1
    end
  end
  states[#states + 1] = state
end
return states
"""


class RedisDeadLetterStore(DeadLetterStore):
    """Dead letters in Redis (the default: ``activejob_dead_letters_url``, else the broker).

    Example:
        >>> store = RedisDeadLetterStore.connect("redis://localhost:6379/0")  # doctest: +SKIP
    """

    schemes: ClassVar[tuple[str, ...]] = REDIS_SCHEMES

    def __init__(
        self, client: redis.Redis, *, settings: Settings | None = None, app: Celery | None = None
    ) -> None:
        super().__init__(settings=settings, app=app)
        self.client = client
        self.index_key = self.settings.key("dead")
        self.records_key = self.settings.key("dead", "records")
        self.summaries_key = self.settings.key("dead", "summaries")
        self.claims_key = self.settings.key("dead", "claims")
        self._insert_script: Any = client.register_script(_INSERT_AND_TRIM)
        self._claim_script: Any = client.register_script(_CLAIM)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redis_location(self.client)} {self.index_key}>"

    @classmethod
    def open(
        cls, url: str, *, settings: Settings | None = None, app: Celery | None = None
    ) -> RedisDeadLetterStore:
        """The store at ``url`` (see :meth:`connect`)."""
        return cls.connect(url, settings=settings, app=app)

    @classmethod
    def connect(
        cls, url: str, *, settings: Settings | None = None, app: Celery | None = None
    ) -> RedisDeadLetterStore:
        """A store on ``app``'s shared client for ``url`` (else a new one), with short timeouts.

        With an app, the client is the one its other parts use for that Redis
        (:class:`~activejob_celery.redis_clients.Clients`). Without, a new client with two
        quick retries: a write that cannot reach Redis fails within about a second. Either way
        a worker is never held for long; the caller decides what happens to the message.
        """
        if app is not None:
            return cls(runtime_for(app).clients.get(url), settings=settings, app=app)
        client = connect(
            app,
            url,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            retry=Retry(ExponentialBackoff(cap=0.25, base=0.02), 2),
            health_check_interval=30,
        )
        return cls(client, settings=settings, app=app)

    def _insert(
        self, letter_id: str, score: float, record: str, summary: str, cutoff: float
    ) -> int:
        keys = [self.index_key, self.records_key, self.summaries_key]
        args = [
            letter_id,
            repr(score),
            record,
            summary,
            repr(cutoff),
            self.settings.dead_letters_max,
        ]
        return int(self._insert_script(keys=keys, args=args))

    def _ids(self, since: float | None = None, until: float | None = None) -> list[str]:
        high = "+inf" if until is None else f"({until!r}"
        low = "-inf" if since is None else repr(since)
        found: Any = self.client.zrevrangebyscore(self.index_key, high, low)
        return [_text(key) for key in found]

    def _summaries(self, ids: Sequence[str]) -> list[str | None]:
        return self._hmget(self.summaries_key, ids)

    def _records(self, ids: Sequence[str]) -> list[str | None]:
        return self._hmget(self.records_key, ids)

    def _hmget(self, key: str, ids: Sequence[str]) -> list[str | None]:
        if not ids:
            return []
        values: Any = self.client.hmget(key, list(ids))
        return [None if value is None else _text(value) for value in values]

    def _delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self.index_key, *ids)
            pipe.hdel(self.records_key, *ids)
            pipe.hdel(self.summaries_key, *ids)
            pipe.hdel(self.claims_key, *ids)
            removed, _, _, _ = pipe.execute()
        return int(removed)

    def _claim(self, ids: Sequence[str], now: float, until: float) -> list[int]:
        if not ids:
            return []
        keys = [self.records_key, self.claims_key]
        states = self._claim_script(keys=keys, args=[repr(now), repr(until), *ids])
        return [int(state) for state in states]

    def _unclaim(self, ids: Sequence[str]) -> None:
        if ids:
            self.client.hdel(self.claims_key, *ids)

    def count(self) -> int:
        """How many dead letters are stored (ZCARD)."""
        return int(self.client.zcard(self.index_key))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
