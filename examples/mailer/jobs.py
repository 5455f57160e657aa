"""The example's jobs: the Rails guide's ``WelcomeEmailJob`` and ActionMailer-style delivery."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from activejob_celery import ApplicationJob, current_settings
from activejob_celery.integrations import MailDeliveryJob, SmtpDeliveryErrorHandling

__all__ = ["MailDeliveryJob", "WelcomeEmailJob", "welcome_message"]


def welcome_message(address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_settings().smtp_from or "shop@example.test"
    message["To"] = address
    message["Subject"] = "Welcome to the shop"
    message.set_content(f"Hello {address.split('@')[0]}, welcome aboard.\n")
    return message


class WelcomeEmailJob(SmtpDeliveryErrorHandling, ApplicationJob):
    """The guide's job: its own smtplib call, with the concern's error handling mixed in."""

    smtp_retry_attempts = 3  # 3 s, then 18 s, then the error is raised

    def perform(self, address: str) -> None:
        settings = current_settings()
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(welcome_message(address))
