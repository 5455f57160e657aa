"""The jobs recurring.yml names, written the way a Rails app writes them in app/jobs."""

from __future__ import annotations

import logging

from activejob_celery import ApplicationJob, queue_as, queue_with_priority, retry_on

log = logging.getLogger(__name__)


class CleanupJob(ApplicationJob):
    """Deletes records nobody needs any more."""

    queue_as("maintenance")

    def perform(self) -> None:
        log.info("cleaning up old records")


class DailyDigestJob(ApplicationJob):
    """Sends the daily digest e-mail."""

    queue_as("mailers")

    def perform(self, kind: str) -> None:
        log.info("sending the %s e-mail", kind)


class ProcessPaymentsJob(ApplicationJob):
    """Settles pending payments; a gateway timeout is retried, as a Rails job would."""

    queue_with_priority(1)
    retry_on(TimeoutError, wait=30, attempts=3)

    def perform(self) -> None:
        log.info("processing pending payments")


class GenerateReportsJob(ApplicationJob):
    """Builds a report for the period it is given."""

    def perform(self, period: str, *, notify: bool = False) -> None:
        log.info("generating the %s report (notify=%s)", period, notify)


class DeliverNotificationsJob(ApplicationJob):
    """Delivers bundled notifications (Rails: Notification::Bundle::DeliverJob)."""

    def perform(self) -> None:
        log.info("delivering notification bundles")


class AutoPostponeCardsJob(ApplicationJob):
    """Postpones stale cards (Rails: Card::AutoPostponeJob)."""

    queue_as("maintenance")

    def perform(self) -> None:
        log.info("postponing stale cards")


class HeartbeatJob(ApplicationJob):
    """Development only: shows the schedule working within seconds."""

    def perform(self, source: str) -> None:
        log.info("heartbeat from %s", source)
