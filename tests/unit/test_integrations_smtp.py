"""SMTP reply classification, the mixin's declarations and overrides, and the message serializer."""

from __future__ import annotations

import json
import smtplib
import socket
from email.message import EmailMessage

import pytest

from activejob_celery import ApplicationJob, ConfigurationError, DeserializationError, reporting
from activejob_celery.arguments import deserialize_arguments, serialize_arguments
from activejob_celery.config import Settings
from activejob_celery.execution import execute
from activejob_celery.integrations import MailDeliveryJob, SmtpDeliveryErrorHandling
from activejob_celery.integrations.mail import EmailMessageSerializer
from activejob_celery.integrations.smtp import (
    CONNECTION_ERRORS,
    SMTPFatalError,
    SMTPServerBusy,
    SMTPSyntaxError,
    is_ignored_reply,
    reply_kind,
)
from tests.unit.helpers import payload_of


def refused(*codes: int) -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused(
        {f"r{index}@example.test": (code, b"x.y.z text") for index, code in enumerate(codes)}
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (smtplib.SMTPDataError(451, b"4.3.0 busy"), "busy"),
        (smtplib.SMTPSenderRefused(421, b"4.7.0 later", "a@b"), "busy"),
        (refused(421), "busy"),
        (refused(550, 451), "busy"),  # any temporary refusal makes the whole send retryable
        (refused(501), "syntax"),
        (smtplib.SMTPDataError(501, b"5.1.3 bad"), "syntax"),
        (refused(550), "fatal"),
        (refused(550, 501), "fatal"),
        (smtplib.SMTPDataError(554, b"5.7.1 spam"), "fatal"),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 invalid"), "fatal"),
        (smtplib.SMTPConnectError(421, b"too busy"), None),  # a connection error, not a reply
        (smtplib.SMTPServerDisconnected("closed"), None),
        (ValueError("not smtp"), None),
    ],
)
def test_replies_are_classified_by_code(error, kind):
    assert reply_kind(error) == kind
    assert isinstance(error, SMTPServerBusy) is (kind == "busy")
    assert isinstance(error, SMTPSyntaxError) is (kind == "syntax")
    assert isinstance(error, SMTPFatalError) is (kind == "fatal")


def test_reply_classes_are_real_exception_classes():
    busy = SMTPServerBusy(421, b"4.7.0 later")
    assert isinstance(busy, smtplib.SMTPResponseException)
    assert isinstance(busy, SMTPServerBusy)
    assert not issubclass(smtplib.SMTPDataError, SMTPServerBusy)  # classes are not reclassified


def test_ignored_replies_need_every_reply_to_match():
    assert is_ignored_reply(smtplib.SMTPRecipientsRefused({"a": (550, b"5.1.1 unknown")}))
    assert is_ignored_reply(
        smtplib.SMTPRecipientsRefused({"a": (550, b"5.1.1 unknown"), "b": (501, b"5.1.3 bad")})
    )
    assert not is_ignored_reply(
        smtplib.SMTPRecipientsRefused({"a": (550, b"5.1.1 unknown"), "b": (554, b"5.7.1 no")})
    )
    assert not is_ignored_reply(
        smtplib.SMTPDataError(550, b"5.7.1 policy")
    )  # code alone is not enough
    assert not is_ignored_reply(ValueError("x"))
    assert is_ignored_reply(smtplib.SMTPDataError(553, b"5.1.2 bad host"), ("553 5.1.2",))


def test_network_errors_include_dns_and_socket_timeouts():
    assert socket.timeout is TimeoutError
    for error in (
        socket.gaierror(-2, "Name or service not known"),
        ConnectionRefusedError(),
        smtplib.SMTPConnectError(421, b"busy"),
        smtplib.SMTPServerDisconnected(),
        TimeoutError(),
    ):
        assert isinstance(error, CONNECTION_ERRORS)


def test_class_attributes_set_attempts_and_wait(aj_adapter, aj_settings):
    aj_settings(retry_jitter=0)

    class ResolverJob(SmtpDeliveryErrorHandling, ApplicationJob):
        smtp_retry_attempts = 2
        smtp_retry_wait = 10

        def perform(self):
            raise socket.gaierror(-2, "Name or service not known")

    ResolverJob.perform_later()
    execute(payload_of(aj_adapter.enqueued_jobs.pop(0)))
    [retry] = aj_adapter.enqueued_jobs
    assert retry["at"] is not None
    assert retry["exception_executions"] == {
        "[TimeoutError, ConnectionError, smtplib.SMTPServerDisconnected, "
        "smtplib.SMTPConnectError, socket.gaierror]": 1
    }
    with pytest.raises(socket.gaierror):
        execute(payload_of(aj_adapter.enqueued_jobs.pop(0)))
    assert aj_adapter.enqueued_jobs == []


def test_ignored_replies_and_level_can_be_overridden(aj_adapter):
    reports: list[tuple[str, str, bool]] = []

    def reporter(error, *, job, handled, level, context):
        reports.append((type(error).__name__, level, handled))

    class BouncingJob(SmtpDeliveryErrorHandling):
        smtp_ignored_replies = ("553 5.1.2",)
        smtp_ignored_level = "warning"

        def perform(self, code, text):
            raise smtplib.SMTPDataError(code, text.encode())

    reporting.add_error_reporter(reporter)
    try:
        result = BouncingJob.perform_now(553, "5.1.2 no such domain")
        assert isinstance(result, smtplib.SMTPDataError)
        # 550 5.1.1 is no longer in this job's list: it fails.
        with pytest.raises(smtplib.SMTPDataError):
            BouncingJob.perform_now(550, "5.1.1 unknown user")
    finally:
        reporting.remove_error_reporter(reporter)
    assert reports == [("SMTPDataError", "warning", True)]
    assert aj_adapter.enqueued_jobs == []


def test_an_invalid_wait_attribute_fails_when_the_class_is_created():
    with pytest.raises(ConfigurationError, match=r"SoonJob: smtp_retry_wait"):

        class SoonJob(SmtpDeliveryErrorHandling):
            smtp_retry_wait = "soon"

            def perform(self):
                pass


def test_mail_delivery_job_handlers_come_from_the_mixin():
    kinds = [type(handler).__name__ for handler in MailDeliveryJob._rescue_handlers]
    assert kinds == ["RetryOn", "RetryOn", "RescueFrom"]
    assert [getattr(handler, "attempts", None) for handler in MailDeliveryJob._rescue_handlers] == [
        5,
        5,
        None,
    ]


@pytest.mark.parametrize("subject", ["Plain ASCII", "Grüße ☃"])
def test_email_messages_travel_as_their_exact_bytes(subject):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.test", "b@example.test", subject
    message.set_content("Zeile ünicode\n" if "☃" in subject else "line\n")
    encoded = serialize_arguments([message], {})
    wire = json.loads(json.dumps(encoded))
    assert wire[0]["_aj_serialized"] == "email_message"
    assert ("encoding" in wire[0]) is ("☃" in subject)
    [decoded], _ = deserialize_arguments(wire)
    assert decoded.as_bytes() == message.as_bytes()
    assert decoded["Subject"] == subject


def test_a_damaged_message_is_a_deserialization_error():
    damaged = [{"_aj_serialized": "email_message", "value": "@@@", "encoding": "base64"}]
    with pytest.raises(DeserializationError, match="base64"):
        deserialize_arguments(damaged)
    assert EmailMessageSerializer().deserialize({"value": "Subject: x\n\nbody\n"})["Subject"] == "x"


def test_deliver_later_takes_set_options(aj_adapter):
    job = MailDeliveryJob.deliver_later(EmailMessage(), wait=60, queue="mailers")
    [record] = aj_adapter.enqueued_jobs
    assert record["job_id"] == job.job_id
    assert record["queue"] == "mailers"
    assert record["at"] is not None


def test_smtp_settings_are_validated():
    with pytest.raises(ConfigurationError, match="exclude each other"):
        Settings(smtp_ssl=True, smtp_starttls=True)
    with pytest.raises(ConfigurationError, match="smtp_timeout"):
        Settings(smtp_timeout=0)
    assert Settings(smtp_ssl=True, smtp_port=465).smtp_ssl
