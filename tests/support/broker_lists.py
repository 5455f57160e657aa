"""A job queue on the Redis broker as kombu keeps it: one list per priority step.

A job without a priority counts as priority 0 and goes to the list of step 1
(``<queue>\\x06\\x161``), not to the bare ``<queue>`` list, which holds negative priorities
(and plain Celery tasks): see ``activejob_celery.priority_buckets``. Tests read a queue
through these helpers rather than ``LLEN <queue>``.
"""

from __future__ import annotations

from typing import Any

SEP = "\x06\x16"
"""kombu's separator between a queue name and its priority step."""
STEPS = tuple(range(10))
"""The ``priority_steps`` ``init_app`` configures."""


def queue_lists(queue: str) -> list[str]:
    """The Redis lists of ``queue``, in the order a worker consumes them (step 0 first)."""
    return [queue if step == 0 else f"{queue}{SEP}{step}" for step in STEPS]


def queue_length(client: Any, queue: str) -> int:
    """Messages waiting in ``queue``, over all its priority lists."""
    return sum(int(client.llen(key)) for key in queue_lists(queue))


def queue_entries(client: Any, queue: str) -> list[bytes]:
    """The raw messages of ``queue``: each list as ``LRANGE`` gives it (newest first), step 0
    list first."""
    return [raw for key in queue_lists(queue) for raw in client.lrange(key, 0, -1)]


def pop_entry(client: Any, queue: str) -> tuple[str, bytes]:
    """Take the message a worker would take next (``RPOP``); returns its list and the message."""
    for key in queue_lists(queue):
        raw = client.rpop(key)
        if raw is not None:
            return key, raw
    raise AssertionError(f"no message waits in {queue!r}")
