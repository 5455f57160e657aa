"""The quickstart's jobs, written the way a Rails app writes them in app/jobs.

Each job appends what it did to the Redis list ``quickstart:events`` (one JSON object per line),
so ``run_demo.py`` can report what happened; a real job would call into your models instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis
from app import BROKER_URL

from activejob_celery import (
    ApplicationJob,
    DeserializationError,
    GlobalID,
    add_locator,
    after_discard,
    discard_on,
    queue_as,
    queue_with_priority,
    retry_on,
)

EVENTS = "quickstart:events"
_client: redis.Redis | None = None


def record(job: ApplicationJob, event: str, **fields: Any) -> None:
    """Append ``event`` for ``job`` to the events list."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER_URL)
    entry = {
        "job": type(job).__name__,
        "job_id": job.job_id,
        "event": event,
        "queue": job.queue_name,
        "executions": job.executions,
        "at": time.time(),
        **fields,
    }
    _client.rpush(EVENTS, json.dumps(entry))


# --------------------------------------------------------------------------- a tiny "model"


@dataclass(frozen=True)
class User:
    """Stands in for an ORM model: it travels as ``gid://quickstart/User/<id>``."""

    id: int
    name: str
    premium: bool = False

    def to_global_id(self) -> GlobalID:
        return GlobalID("quickstart", "User", self.id)

    def send_welcome_later(self) -> ApplicationJob | bool:
        # The Rails `_later` convention: the model enqueues, the job delegates back.
        return WelcomeEmailJob.perform_later(self, "Welcome aboard!")


USERS = {1: User(1, "Ada", premium=True), 2: User(2, "Grace")}

# The worker fetches each User again by id when the job runs (Rails' GlobalID locator).
add_locator("quickstart", lambda gid: USERS.get(int(gid.model_id)))


class CardExpiredError(Exception):
    """A permanent failure: retrying cannot help."""


class GatewayTimeoutError(Exception):
    """A transient failure: the next attempt usually works."""


class InventoryApiDownError(Exception):
    """A failure that outlasts every retry."""


# --------------------------------------------------------------------------- the jobs


class BaseJob(ApplicationJob, abstract=True):
    """App-wide defaults (Rails' ApplicationJob); abstract, so it is never enqueued itself."""

    # The record was deleted before the job ran: nothing left to do.
    discard_on(DeserializationError)


class WelcomeEmailJob(BaseJob):
    """Succeeds: a user (sent as a global id) and a message."""

    queue_as("mailers")

    def perform(self, user: User, message: str) -> None:
        record(self, "performed", user=user.name, message=message)


class ReportJob(BaseJob):
    """Picks its queue from its arguments: premium users go to ``urgent``."""

    @queue_as
    def queue(self) -> str:
        return "urgent" if self.arguments[0].premium else "default"

    def perform(self, user: User, *, period: str = "daily") -> None:
        record(self, "performed", user=user.name, period=period)


class ProcessOrderJob(BaseJob):
    """Fails once with a transient error, then succeeds on the retry one second later."""

    retry_on(GatewayTimeoutError, wait=1, attempts=3, jitter=0)

    def perform(self, order_id: int) -> None:
        if self.executions == 1:
            record(self, "failed", order_id=order_id, error="GatewayTimeoutError")
            raise GatewayTimeoutError(f"payment gateway timed out for order {order_id}")
        record(self, "performed", order_id=order_id)


class ChargePaymentJob(BaseJob):
    """Is discarded: an expired card is permanent, so the job gives up at once."""

    queue_as("urgent")
    queue_with_priority(0)

    @discard_on(CardExpiredError)
    def card_expired(self, error: CardExpiredError) -> None:
        # The Rails block: mark the payment, tell the customer, ...
        record(self, "card_expired", error=str(error))

    @after_discard
    def note_discard(self, error: BaseException | None) -> None:
        record(self, "discarded", error=type(error).__name__)

    def perform(self, payment_id: int) -> None:
        raise CardExpiredError(f"card for payment {payment_id} expired")


class SyncInventoryJob(BaseJob):
    """Fails for good: two attempts, then the error escapes and the Celery task fails."""

    queue_as("low_priority")
    retry_on(InventoryApiDownError, wait=1, attempts=2, jitter=0)

    def perform(self, sku: str) -> None:
        record(self, "failed", sku=sku)
        raise InventoryApiDownError(f"inventory API unreachable while syncing {sku}")


class ImportRowJob(BaseJob):
    """Enqueued in bulk with ``perform_all_later``."""

    queue_as("low_priority")
    queue_with_priority(9)

    def perform(self, row: dict[str, str]) -> None:
        record(self, "performed", email=row["email"])


class CleanupJob(BaseJob):
    """The recurring job: ``celery beat`` enqueues it on a schedule."""

    queue_as("maintenance")

    def perform(self) -> None:
        record(self, "performed")
