"""Helpers for the concurrency tests: overlap counters kept in Redis, measured inside the jobs."""

from __future__ import annotations

from typing import Any

import redis

_ENTER = """
local now = redis.call('INCR', KEYS[1])
if now > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], now)
end
return now
"""


class Overlap:
    """Counts jobs running at once for one name; ``peak`` is the most seen together.

    Example:
        >>> overlap = Overlap(url, "sync")
        >>> with overlap: ...
    """

    def __init__(self, url: str, name: str) -> None:
        self.client: Any = redis.Redis.from_url(url)
        self.running = f"test:running:{name}"
        self.peak_key = f"test:peak:{name}"
        self.done_key = f"test:done:{name}"
        self._enter = self.client.register_script(_ENTER)

    def __enter__(self) -> None:
        self._enter(keys=[self.running, self.peak_key])

    def __exit__(self, *exc: object) -> None:
        self.client.decr(self.running)
        self.client.incr(self.done_key)

    @property
    def peak(self) -> int:
        return int(self.client.get(self.peak_key) or 0)

    @property
    def done(self) -> int:
        return int(self.client.get(self.done_key) or 0)
