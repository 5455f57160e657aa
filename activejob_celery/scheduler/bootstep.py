"""The worker bootstep that runs a scheduled-set poller inside every ``celery worker``."""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

logger = logging.getLogger(__name__)


class SchedulerPoller(bootsteps.StartStopStep):  # type: ignore[misc]
    """Runs a :class:`~activejob_celery.scheduler.Poller` thread for as long as the worker runs.

    Added by ``init_app`` when the scheduled set is in use, unless
    ``activejob_scheduler_embedded = False`` (then run ``celery -A app jobs scheduler``).
    It starts after the pool, so prefork children are never forked from a busy poller, runs
    in the worker's main process only, and stops (warm or cold shutdown) before the pool.

    Example:
        >>> app.conf.activejob_scheduler_embedded = False      # doctest: +SKIP
    """

    label = "activejob scheduler"
    requires = ("celery.worker.components:Pool",)

    def create(self, worker: Any) -> Any:
        """Build the poller; Celery then calls its ``start()`` and ``stop()``."""
        from . import poller_for

        poller = poller_for(worker.app)
        logger.info(
            "Scheduler will poll %s every %.1fs (%s)",
            poller.scheduled.key,
            poller.interval,
            "direct" if poller.scheduled.direct else "through Celery",
        )
        return poller
