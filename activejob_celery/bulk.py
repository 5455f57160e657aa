"""``perform_all_later``: enqueue many jobs in one pass per adapter, without enqueue callbacks."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from . import enqueuing, signals
from .concurrency.gate import admit, rules
from .enqueuing import hand_to_adapter, raise_enqueue_error
from .log_subscriber import enqueue_tags

if TYPE_CHECKING:
    from .adapters.base import QueueAdapter
    from .base import ApplicationJob


def perform_all_later(*jobs: ApplicationJob | Iterable[ApplicationJob]) -> None:
    """Enqueue ``jobs`` grouped by adapter; check ``successfully_enqueued`` on each afterwards."""
    flat = _flatten(jobs)
    if enqueuing.deferral is not None:  # enqueue after commit: see contrib.transactions
        flat = [job for job in flat if not enqueuing.deferral(job, bulk=True)]
    enqueue_flat(flat)


def enqueue_flat(flat: list[ApplicationJob]) -> None:
    """Enqueue ``flat`` now, grouped by adapter (``perform_all_later`` without deferral)."""
    groups: dict[int, tuple[QueueAdapter, list[ApplicationJob]]] = {}
    for job in flat:
        job.successfully_enqueued = False
        job.enqueue_error = None
        adapter = job.adapter()
        groups.setdefault(id(adapter), (adapter, []))[1].append(job)
    for adapter, group in groups.values():
        first = group[0]
        with (
            enqueue_tags(),
            signals.instrument(
                signals.enqueue_all, first, adapter, jobs=group, enqueued_count=0
            ) as event,
        ):
            # Jobs with limits_concurrency or unique go one by one through their locks.
            plain = [job for job in group if rules(job) == (None, None)]
            count = adapter.enqueue_all(plain) if plain else 0
            for job in group:
                if rules(job) != (None, None):
                    admit(job, adapter, partial(hand_to_adapter, job, adapter))
                    count += bool(job.successfully_enqueued)
            event.payload["enqueued_count"] = count
    raise_enqueue_error(flat)  # activejob_raise_on_enqueue_error: after every group was tried


def _flatten(items: Iterable[object]) -> list[ApplicationJob]:
    # import here: cycle: base imports this module
    from .base import ApplicationJob

    flat: list[ApplicationJob] = []
    for item in items:
        if isinstance(item, ApplicationJob):
            flat.append(item)
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes):
            flat.extend(_flatten(item))
        else:
            raise TypeError(f"perform_all_later takes jobs or lists of jobs, not {item!r}")
    return flat
