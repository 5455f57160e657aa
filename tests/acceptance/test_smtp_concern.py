"""The "Error Handling Concern" of the Rails jobs guide (seeds/000), written with this API.

The Ruby concern retries network errors and 4xx replies with ``:polynomially_longer``, ignores
(but reports at info level) invalid addresses and unknown mailboxes, and re-raises every other
SMTP error. Here it is an abstract job class mixed in before the app's base job, delivering to a
real SMTP server (aiosmtpd) that answers each recipient with a chosen reply.

Python's smtplib raises by command, not by reply class, so ``deliver`` maps a reply code onto
the Net::SMTP classes the concern names (4xx busy, 50x syntax, other 5xx fatal), raising from
the smtplib error. A read timeout surfaces in smtplib as ``SMTPServerDisconnected``, so that is
the Python spelling of ``Net::ReadTimeout``.
"""

from __future__ import annotations

import re
import smtplib
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from activejob_celery import POLYNOMIALLY_LONGER, ApplicationJob, rescue_from, retry_on
from activejob_celery.reporting import add_error_reporter, remove_error_reporter, report_error
from activejob_celery.testing import TestAdapter


class SmtpReplyError(smtplib.SMTPResponseException):
    """An SMTP error reply; ``str()`` is the reply line, like Ruby's ``error.message``."""

    def __str__(self) -> str:
        return f"{self.smtp_code} {self.smtp_error}"


class SMTPServerBusy(SmtpReplyError):
    """Net::SMTPServerBusy: a 4xx reply."""


class SMTPSyntaxError(SmtpReplyError):
    """Net::SMTPSyntaxError: a 50x reply."""


class SMTPFatalError(SmtpReplyError):
    """Net::SMTPFatalError: any other 5xx reply."""


def smtp_error(code: int, text: bytes | str) -> SmtpReplyError:
    message = text.decode() if isinstance(text, bytes) else text
    if 400 <= code < 500:
        return SMTPServerBusy(code, message)
    if 500 <= code < 510:
        return SMTPSyntaxError(code, message)
    return SMTPFatalError(code, message)


def deliver(port: int, recipient: str) -> None:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=0.3) as smtp:
            smtp.sendmail("app@example.com", [recipient], "Subject: Welcome\r\n\r\nHello!\r\n")
    except smtplib.SMTPRecipientsRefused as error:
        [(code, text)] = error.recipients.values()
        raise smtp_error(code, text) from error
    except smtplib.SMTPResponseException as error:
        raise smtp_error(error.smtp_code, error.smtp_error) from error


class SmtpDeliveryErrorHandling(ApplicationJob, abstract=True):
    """The concern, line for line."""

    # Retry on network errors
    retry_on(
        TimeoutError, socket.gaierror, smtplib.SMTPServerDisconnected, wait=POLYNOMIALLY_LONGER
    )

    # Retry on temporary SMTP errors (4xx)
    retry_on(SMTPServerBusy, wait=POLYNOMIALLY_LONGER)

    # Handle specific SMTP errors
    @rescue_from(SMTPSyntaxError)
    def smtp_syntax_error(self, error: SMTPSyntaxError) -> None:
        if re.match(r"501 5\.1\.3", str(error)):  # ignore invalid email addresses
            report_error(error, job=self, handled=True, level="info")
        else:
            raise error

    # Handle fatal SMTP errors (5xx)
    @rescue_from(SMTPFatalError)
    def smtp_fatal_error(self, error: SMTPFatalError) -> None:
        if re.match(r"550 5\.1\.1|552 5\.6\.0", str(error)):
            report_error(error, job=self, handled=True, level="info")
        else:
            raise error


class AppBaseJob(ApplicationJob, abstract=True):
    """The app's own base job, with a broader rule the concern must override."""

    retry_on(OSError, attempts=10)


class WelcomeEmailJob(SmtpDeliveryErrorHandling, AppBaseJob):
    """``class WelcomeEmailJob < ApplicationJob; include SmtpDeliveryErrorHandling``."""

    def perform(self, port: int, recipient: str) -> None:
        deliver(port, recipient)


REPLIES = {
    "busy@example.com": "450 4.2.1 Mailbox busy, try again later",
    "bad-syntax@example.com": "501 5.1.3 Bad recipient address syntax",
    "unrecognised@example.com": "502 5.5.2 Command not recognised",
    "unknown@example.com": "550 5.1.1 User unknown",
    "relay@example.com": "550 5.7.1 Relaying denied",
}


class ReplyingHandler:
    """aiosmtpd handler: refuses the recipients of REPLIES, rejects big mail, keeps the rest."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in REPLIES:
            return REPLIES[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if envelope.rcpt_tos == ["full@example.com"]:
            return "552 5.6.0 Message size exceeds fixed maximum"
        self.delivered.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def aj_smtp() -> Iterator[tuple[int, ReplyingHandler]]:
    handler = ReplyingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port, handler
    controller.stop()


@pytest.fixture
def aj_silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never greets: a read timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield int(server.getsockname()[1])


@pytest.fixture
def aj_reports() -> Iterator[list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    def reporter(error: BaseException, *, level: str, **details: Any) -> None:
        seen.append((str(error), level))

    add_error_reporter(reporter)
    yield seen
    remove_error_reporter(reporter)


@pytest.fixture(autouse=True)
def aj_adapter(aj_recording_adapter: TestAdapter, monkeypatch: pytest.MonkeyPatch) -> TestAdapter:
    monkeypatch.setattr(WelcomeEmailJob, "queue_adapter", aj_recording_adapter)
    return aj_recording_adapter


def test_a_good_address_is_delivered(aj_smtp: tuple[int, ReplyingHandler]) -> None:
    """The concern changes nothing for a delivery that works."""
    port, handler = aj_smtp
    assert WelcomeEmailJob.perform_now(port, "ada@example.com") is None
    assert handler.delivered == ["ada@example.com"]


def test_a_busy_mailbox_is_retried_polynomially(
    aj_smtp: tuple[int, ReplyingHandler],
    aj_adapter: TestAdapter,
    aj_frozen_clock: datetime,
    aj_rand: Any,
) -> None:
    """``retry_on Net::SMTPServerBusy, wait: :polynomially_longer``: 3 s after the first 4xx."""
    aj_rand(0.0)
    port, _ = aj_smtp
    error = WelcomeEmailJob.perform_now(port, "busy@example.com")
    assert isinstance(error, SMTPServerBusy)
    assert isinstance(error.__cause__, smtplib.SMTPRecipientsRefused)
    [record] = aj_adapter.enqueued_jobs
    assert record["at"] - aj_frozen_clock.timestamp() == pytest.approx(3)
    assert record["exception_executions"] == {f"[{__name__}.SMTPServerBusy]": 1}


def test_a_read_timeout_is_retried_by_the_concern_not_the_base_job(
    aj_silent_server: int, aj_adapter: TestAdapter
) -> None:
    """The network declaration (Net::ReadTimeout) beats the base job's broader ``retry_on
    OSError``: a concern's declarations apply where it sits in the MRO."""
    error = WelcomeEmailJob.perform_now(aj_silent_server, "ada@example.com")
    assert isinstance(error, smtplib.SMTPServerDisconnected)
    [record] = aj_adapter.enqueued_jobs
    assert record["exception_executions"] == {
        "[TimeoutError, socket.gaierror, smtplib.SMTPServerDisconnected]": 1
    }


@pytest.mark.parametrize(
    ("recipient", "reported"),
    [
        ("bad-syntax@example.com", "501 5.1.3 Bad recipient address syntax"),
        ("unknown@example.com", "550 5.1.1 User unknown"),
        ("full@example.com", "552 5.6.0 Message size exceeds fixed maximum"),
    ],
)
def test_permanent_address_errors_are_reported_at_info_and_dropped(
    aj_smtp: tuple[int, ReplyingHandler],
    aj_adapter: TestAdapter,
    aj_reports: list[tuple[str, str]],
    recipient: str,
    reported: str,
) -> None:
    """``rescue_from Net::SMTPSyntaxError / SMTPFatalError`` with a matching message:
    ``Sentry.capture_exception(error, level: :info)``, and the job is done."""
    port, _ = aj_smtp
    assert isinstance(WelcomeEmailJob.perform_now(port, recipient), SmtpReplyError)
    assert aj_reports == [(reported, "info")]
    assert aj_adapter.enqueued_jobs == []


@pytest.mark.parametrize(
    ("recipient", "error_class"),
    [("unrecognised@example.com", SMTPSyntaxError), ("relay@example.com", SMTPFatalError)],
)
def test_other_smtp_errors_are_raised_again(
    aj_smtp: tuple[int, ReplyingHandler],
    aj_adapter: TestAdapter,
    aj_reports: list[tuple[str, str]],
    recipient: str,
    error_class: type[Exception],
) -> None:
    """The handlers' ``else raise``: the job fails, nothing is reported or retried."""
    port, _ = aj_smtp
    with pytest.raises(error_class):
        WelcomeEmailJob.perform_now(port, recipient)
    assert aj_reports == []
    assert aj_adapter.enqueued_jobs == []
