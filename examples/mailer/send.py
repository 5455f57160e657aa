"""Enqueue the example's mail: one delivered, one busy, one unknown user, one rejected as spam."""

from __future__ import annotations

from email.message import EmailMessage

from app import app  # noqa: F401 - init_app: settings and the Celery adapter
from jobs import MailDeliveryJob, WelcomeEmailJob


def receipt(address: str) -> EmailMessage:
    message = EmailMessage()
    message["To"] = address  # From comes from activejob_smtp_from
    message["Subject"] = "Your receipt — Grüße"
    message.set_content("Order 1001: 2 x coffee, 7.00 €\n")
    return message


if __name__ == "__main__":
    for address in ("ann@example.test", "unknown@example.test", "busy@example.test"):
        job = WelcomeEmailJob.perform_later(address)
        print(f"WelcomeEmailJob({address}) enqueued: {job.job_id}")
    for address in ("ann@example.test", "spam@example.test"):
        job = MailDeliveryJob.deliver_later(receipt(address))
        print(f"MailDeliveryJob(receipt to {address}) enqueued: {job.job_id}")
