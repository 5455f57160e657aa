"""A frozen clock for the enqueuing module: Rails' ``travel_to`` in the acceptance tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

FROZEN_NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)
"""What ``now`` is while the clock is frozen."""


class _FrozenMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        # ``apply_options`` checks ``isinstance(wait_until, datetime)``: real datetimes still pass.
        return isinstance(obj, datetime)


class FrozenDatetime(datetime, metaclass=_FrozenMeta):
    """``datetime`` whose ``now()`` is :data:`FROZEN_NOW`."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return FROZEN_NOW if tz is None else FROZEN_NOW.astimezone(tz)
