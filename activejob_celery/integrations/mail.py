"""``MailDeliveryJob``: send an ``email.message.EmailMessage`` later, through the SMTP settings."""

from __future__ import annotations

import base64
import binascii
import email.policy
import logging
import smtplib
import ssl
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any, ClassVar

from ..config import current_settings
from ..configured_job import ConfiguredJob
from ..reporting import report_error
from ..serializers import ObjectSerializer, add_serializers
from .smtp import SmtpDeliveryErrorHandling, is_ignored_reply, smtp_replies

__all__ = ["EmailMessageSerializer", "MailDeliveryJob"]

logger = logging.getLogger(__name__)


class EmailMessageSerializer(ObjectSerializer):
    r"""An email message as its exact bytes: plain text when ASCII, else base64.

    Example:
        >>> message = EmailMessage()
        >>> message["Subject"] = "Hi"
        >>> EmailMessageSerializer().serialize(message)
        {'value': 'Subject: Hi\n\n'}
    """

    klass = Message
    name = "email_message"

    def serialize(self, value: Message) -> dict[str, Any]:
        """The message's bytes as ``value`` (base64 with ``encoding`` when not ASCII)."""
        raw = value.as_bytes()
        try:
            return {"value": raw.decode("ascii")}
        except UnicodeDecodeError:
            return {"value": base64.b64encode(raw).decode("ascii"), "encoding": "base64"}

    def deserialize(self, data: dict[str, Any]) -> EmailMessage:
        """Parse the bytes back into an ``EmailMessage`` (``email.policy.default``)."""
        value = data["value"]
        if not isinstance(value, str):
            raise ValueError("an email message value must be a string")
        if data.get("encoding") == "base64":
            try:
                raw = base64.b64decode(value, validate=True)
            except binascii.Error as error:
                raise ValueError(f"an email message is not valid base64: {error}") from error
        else:
            raw = value.encode("ascii")
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        return message


add_serializers(EmailMessageSerializer)


class MailDeliveryJob(SmtpDeliveryErrorHandling):
    """Deliver a message by SMTP (ActionMailer's ``deliver_later``), with the SMTP error handling.

    The connection follows the ``activejob_smtp_*`` settings: host, port, ``ssl`` (TLS from the
    start) or ``starttls``, timeout, and login when a user is set; ``smtp_from`` fills a missing
    ``From``. When some recipients are refused the others still get the message, so the job is
    not retried (that would send it twice); the refusal is reported instead, at
    ``smtp_ignored_level`` for ignored replies and at warning level otherwise. Arguments are kept
    out of logs and error reports (``log_arguments = False``): a message holds addresses and text.

    Example:
        >>> message = EmailMessage()
        >>> message["To"], message["Subject"] = "ann@example.com", "Welcome"
        >>> message.set_content("Hello Ann")
        >>> MailDeliveryJob.deliver_later(message)                # doctest: +SKIP
        >>> MailDeliveryJob.deliver_later(message, wait=60)       # doctest: +SKIP
    """

    log_arguments: ClassVar[bool | None] = False

    @classmethod
    def deliver_later(cls, message: Message, **options: Any) -> Any:
        """Enqueue delivery of ``message``; ``options`` are those of ``set`` (wait, queue, ...).

        Example:
            >>> MailDeliveryJob.deliver_later(message, queue="mailers")   # doctest: +SKIP
        """
        if options:
            return ConfiguredJob(cls, options).perform_later(message)
        return cls.perform_later(message)

    @classmethod
    def deliver_now(cls, message: Message) -> Any:
        """Deliver ``message`` in this process, through the whole job pipeline.

        Example:
            >>> MailDeliveryJob.deliver_now(message)                # doctest: +SKIP
        """
        return cls.perform_now(message)

    def perform(self, message: Message) -> None:
        """Send ``message``; refused recipients are reported, never retried."""
        settings = current_settings()
        if settings.smtp_from and message["From"] is None and message["Sender"] is None:
            message["From"] = settings.smtp_from
        with self.smtp_connection() as smtp:
            refused = smtp.send_message(message)
        if refused:
            self.recipients_refused(smtplib.SMTPRecipientsRefused(refused))

    def smtp_connection(self) -> smtplib.SMTP:
        """An open, logged-in connection built from the ``activejob_smtp_*`` settings.

        Example:
            >>> with MailDeliveryJob().smtp_connection() as smtp:   # doctest: +SKIP
            ...     smtp.noop()
        """
        settings = current_settings()
        host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout
        smtp: smtplib.SMTP
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self.ssl_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=self.ssl_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for ``ssl`` and ``starttls``; override it to trust a private CA.

        Example:
            >>> class InternalMailJob(MailDeliveryJob):             # doctest: +SKIP
            ...     def ssl_context(self):
            ...         return ssl.create_default_context(cafile="/etc/mail/ca.pem")
        """
        return ssl.create_default_context()

    def recipients_refused(self, error: smtplib.SMTPRecipientsRefused) -> None:
        """Report recipients the server refused while accepting the message for the others."""
        cls = type(self)
        ignored = is_ignored_reply(error, cls.smtp_ignored_replies)
        replies = {
            address: f"{code} {text}"
            for address, (code, text) in zip(error.recipients, smtp_replies(error), strict=True)
        }
        logger.warning(
            "%s (Job ID: %s) refused recipients: %s", cls.__qualname__, self.job_id, replies
        )
        report_error(
            error,
            job=self,
            handled=True,
            level=cls.smtp_ignored_level if ignored else "warning",
            context={"smtp_replies": list(replies.values())},
        )
