"""Worker-side parts kept in Redis: per-minute job counters, per-class statistics, paused queues.

Every worker runs these (``init_app`` wires them); the dashboard (:mod:`activejob_celery.web`)
and the CLI only read what they write.

Example:
    >>> from activejob_celery.worker import pausing
    >>> pausing.paused_queues(app)                              # doctest: +SKIP
    {}
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..parts_off import part_off, part_on
from . import job_stats, metrics
from .pausing import KeepPaused
from .state import redis_url

__all__ = ["OFF_REASON", "STATISTICS", "setup"]

STATISTICS = "job statistics"
"""The part (:mod:`activejob_celery.parts_off`) a worker warns about when there is no Redis."""
OFF_REASON = (
    "set activejob_dead_letters_url to a Redis URL (the broker is not Redis); the dashboard's "
    "job counts and the per-class statistics of jobs stats --by-class are kept there"
)
"""Why the statistics are off, and the setting that turns them on."""


def setup(app: Any, settings: Settings | None = None) -> None:
    """Wire the worker side of the dashboard to ``app``: job counters and paused queues.

    ``activejob_celery.web.setup`` is this function (its documented name).

    Connects the per-minute counter receiver to ``signals.perform``, the per-class statistics
    receivers (:mod:`~activejob_celery.worker.job_stats`), and adds the consumer
    step that keeps paused queues paused when a worker starts. Does nothing without a Redis
    (``activejob_dead_letters_url`` or a Redis broker). Safe to call again.

    Example:
        >>> activejob_celery.worker.setup(app)                 # doctest: +SKIP
    """
    settings = settings or Settings.from_app(app)
    if redis_url(app) is None:
        part_off(app, STATISTICS, OFF_REASON)  # said once, when a worker starts
        return
    part_on(app, STATISTICS)
    metrics.setup(app, settings)
    job_stats.setup(app, settings)
    if KeepPaused not in app.steps["consumer"]:
        app.steps["consumer"].add(KeepPaused)
