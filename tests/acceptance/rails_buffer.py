"""Reading the shared job buffer the way Rails' tests compare ``JobBuffer.values``."""

from __future__ import annotations

from datetime import datetime

from tests.acceptance.clock import FROZEN_NOW
from tests.acceptance.jobs import BUFFER


def buffer_values() -> list[str]:
    """The buffer, with each logged ``scheduled_at`` shown as its delay from the frozen now.

    Rails writes ``"Next execution scheduled at #{(Time.now + 3.seconds).to_f}"`` under
    ``travel_to``; the delay is the part that carries information, so it is what is shown.
    """
    values: list[str] = []
    for value in BUFFER.values:
        if isinstance(value, tuple) and value[0] == "scheduled":
            values.append(f"Next execution scheduled at now + {delay_of(value[1]):.12g}s")
        else:
            values.append(value)
    return values


def delay_of(scheduled_at: datetime) -> float:
    """Seconds between the frozen now and ``scheduled_at``, to the microsecond."""
    return round((scheduled_at - FROZEN_NOW).total_seconds(), 6)


def scheduled(seconds: float) -> str:
    """The buffer line for a retry ``seconds`` from now."""
    return f"Next execution scheduled at now + {round(seconds, 6):.12g}s"
