"""MailDeliveryJob and SmtpDeliveryErrorHandling against a real aiosmtpd server on loopback.

The server's handler answers per recipient: ``reply-421@...`` gets ``421 4.7.0 ...`` at RCPT,
``data-552@...`` is accepted at RCPT and gets ``552 5.6.0 ...`` after DATA, ``drop@...`` makes
the server close the connection. Retries go through the test adapter, whose records carry the
retry's ``at`` time (jitter 0); failures and deliveries also run on a real worker. Sentry events
arrive at a loopback HTTP endpoint.
"""

from __future__ import annotations

import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
from collections import Counter
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from activejob_celery import adapters, failures
from activejob_celery.config import Settings, use_settings
from activejob_celery.core import parse_time
from activejob_celery.dead_letters import store_for
from activejob_celery.execution import execute
from activejob_celery.integrations import MailDeliveryJob
from tests.integration.test_sentry_envelopes import (
    SentryEndpoint,
    exception_of,
    flushed_events,
    sentry_session,
    tags_of,
)
from tests.support import free_port
from tests.support.fixtures import make_app
from tests.support.payloads import payload_of
from tests.support.requirements import need
from tests.support.worker import run_worker, wait_for

REPLIES = {
    "421": "421 4.7.0 Temporary System Problem. Try again later",
    "451": "451 4.3.0 Mail server temporarily rejected message",
    "501": "501 5.1.3 Bad recipient address syntax",
    "550": "550 5.1.1 The email account that you tried to reach does not exist",
    "552": "552 5.6.0 Message size exceeds fixed maximum message size",
    "554": "554 5.7.1 Message rejected as spam",
}


class ReplyByRecipient:
    """aiosmtpd handler: the recipient's local part chooses the reply."""

    def __init__(self) -> None:
        self.rcpt_attempts: Counter[str] = Counter()
        self.delivered: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        with self.lock:
            self.rcpt_attempts[address] += 1
        if local == "drop":
            server.transport.close()
            return "250 OK"
        if local.startswith("reply-"):
            return REPLIES[local.removeprefix("reply-")]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        codes = [rcpt.split("@")[0].removeprefix("data-") for rcpt in envelope.rcpt_tos]
        for code in codes:
            if code in REPLIES:
                return REPLIES[code]
        with self.lock:
            self.delivered.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 Message accepted for delivery"


@pytest.fixture
def aj_smtp():
    handler = ReplyByRecipient()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def aj_test_queue(aj_smtp):
    """The test adapter for every job, jitter 0, SMTP settings pointing at ``aj_smtp``."""
    use_settings(
        Settings(
            queue_adapter="test", retry_jitter=0, smtp_host="127.0.0.1", smtp_port=aj_smtp.port
        )
    )
    adapter = adapters.named_adapter("test")
    adapter.clear()
    return adapter


@pytest.fixture
def aj_sentry_endpoint():
    endpoint = SentryEndpoint()
    yield endpoint
    endpoint.close()


def message_to(*recipients: str, subject: str = "Welcome") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "shop@example.test"
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content("Hello and welcome.\n")
    return message


def run_next(adapter: Any) -> Any:
    """Perform the oldest enqueued job from its payload, as a worker would."""
    record = adapter.enqueued_jobs.pop(0)
    return execute(payload_of(record))


def delay_of(record: dict[str, Any]) -> float:
    return record["at"] - parse_time(record["enqueued_at"]).timestamp()


@pytest.mark.parametrize("code", ["421", "451"])
def test_busy_replies_are_retried_with_polynomial_delays(code, aj_smtp, aj_test_queue):
    address = f"reply-{code}@example.test"
    job = MailDeliveryJob.deliver_later(message_to(address))
    delays = []
    for _ in range(4):
        error = run_next(aj_test_queue)
        assert isinstance(error, smtplib.SMTPRecipientsRefused)
        [retry] = aj_test_queue.enqueued_jobs
        assert retry["job_id"] == job.job_id
        delays.append(round(delay_of(retry), 1))
    assert delays == [3.0, 18.0, 83.0, 258.0]
    counters = aj_test_queue.enqueued_jobs[0]["exception_executions"]
    assert counters == {"[activejob_celery.integrations.smtp.SMTPServerBusy]": 4}
    # The fifth attempt is the last one: the error leaves the job and nothing is enqueued.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        run_next(aj_test_queue)
    assert raised.value.recipients[address][0] == int(code)
    assert aj_test_queue.enqueued_jobs == []
    assert aj_smtp.rcpt_attempts[address] == 5


def test_a_busy_reply_after_data_is_retried(aj_smtp, aj_test_queue):
    MailDeliveryJob.deliver_later(message_to("data-451@example.test"))
    error = run_next(aj_test_queue)
    assert isinstance(error, smtplib.SMTPDataError)
    assert error.smtp_code == 451
    [retry] = aj_test_queue.enqueued_jobs
    assert round(delay_of(retry), 1) == 3.0


def test_a_dropped_connection_is_retried(aj_smtp, aj_test_queue):
    MailDeliveryJob.deliver_later(message_to("drop@example.test"))
    error = run_next(aj_test_queue)
    assert isinstance(error, smtplib.SMTPServerDisconnected)
    [retry] = aj_test_queue.enqueued_jobs
    assert round(delay_of(retry), 1) == 3.0
    assert list(retry["exception_executions"]) == [
        "[TimeoutError, ConnectionError, smtplib.SMTPServerDisconnected, "
        "smtplib.SMTPConnectError, socket.gaierror]"
    ]
    assert aj_smtp.rcpt_attempts["drop@example.test"] == 1


def test_a_refused_connection_and_a_silent_server_are_retried(aj_test_queue):
    closed_port = free_port()
    use_settings(Settings(queue_adapter="test", retry_jitter=0, smtp_port=closed_port))
    MailDeliveryJob.deliver_later(message_to("ann@example.test"))
    assert isinstance(run_next(aj_test_queue), ConnectionRefusedError)

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never greets
        port = silent.getsockname()[1]
        use_settings(
            Settings(queue_adapter="test", retry_jitter=0, smtp_port=port, smtp_timeout=0.3)
        )
        error = run_next(aj_test_queue)
        # smtplib reports a read that timed out as a closed connection; both are retried.
        assert isinstance(error, smtplib.SMTPServerDisconnected)
        assert "timed out" in str(error)
    [retry] = aj_test_queue.enqueued_jobs
    assert round(delay_of(retry), 1) == 18.0  # the second network error of this job


@pytest.mark.parametrize(
    ("recipient", "error_class", "reply"),
    [
        ("reply-501", smtplib.SMTPRecipientsRefused, REPLIES["501"]),
        ("reply-550", smtplib.SMTPRecipientsRefused, REPLIES["550"]),
        ("data-552", smtplib.SMTPDataError, REPLIES["552"]),
    ],
)
def test_permanent_address_replies_end_the_job_with_one_info_event(
    recipient, error_class, reply, aj_smtp, aj_test_queue, aj_sentry_endpoint
):
    with sentry_session(aj_sentry_endpoint, auto_enabling_integrations=False):
        job = MailDeliveryJob.deliver_later(message_to(f"{recipient}@example.test"))
        result = run_next(aj_test_queue)
        events = flushed_events(aj_sentry_endpoint)
    assert isinstance(result, error_class)  # handled: perform_now returns the error
    assert aj_test_queue.enqueued_jobs == []  # and nothing is retried
    assert aj_smtp.delivered == []
    [event] = events
    assert event["level"] == "info"
    assert tags_of(event)["job_class"] == MailDeliveryJob.job_name
    assert tags_of(event)["job_id"] == job.job_id
    assert exception_of(event)["type"] == error_class.__name__
    assert exception_of(event)["mechanism"]["handled"] is True
    assert event["extra"]["smtp_replies"] == [reply]
    # MailDeliveryJob keeps the message (addresses, text) out of error reports.
    assert "arguments" not in event["contexts"]["active_job"]


def test_other_permanent_replies_fail_the_job(aj_smtp, aj_test_queue):
    MailDeliveryJob.deliver_later(message_to("data-554@example.test"))
    with pytest.raises(smtplib.SMTPDataError) as raised:
        run_next(aj_test_queue)
    assert raised.value.smtp_code == 554
    assert aj_test_queue.enqueued_jobs == []


def test_partial_refusal_delivers_to_the_others_and_reports(
    aj_smtp, aj_test_queue, aj_sentry_endpoint
):
    message = message_to("ann@example.test", "reply-550@example.test", "reply-451@example.test")
    with sentry_session(aj_sentry_endpoint, auto_enabling_integrations=False):
        MailDeliveryJob.deliver_later(message)
        assert run_next(aj_test_queue) is None
        events = flushed_events(aj_sentry_endpoint)
    [(_, recipients, _)] = aj_smtp.delivered
    assert recipients == ["ann@example.test"]
    assert aj_test_queue.enqueued_jobs == []  # a retry would send it to ann twice
    [event] = events
    assert event["level"] == "warning"  # 451 is not an ignored reply
    assert event["extra"]["smtp_replies"] == [REPLIES["550"], REPLIES["451"]]


def test_a_worker_delivers_the_exact_bytes_and_keeps_a_rejected_message_as_a_dead_letter(
    aj_redis, aj_smtp, aj_sentry_endpoint
):
    app = make_app(aj_redis.url, activejob_smtp_host="127.0.0.1", activejob_smtp_port=aj_smtp.port)
    failed: list[tuple[str, str, BaseException]] = []

    def recorder(payload, error, *, reason, job):
        failed.append((payload["job_id"], reason, error))

    message = message_to("ann@example.test", subject="Grüße aus Köln")
    message.set_content("Zwei Zeilen, ünicode.\n.Eine mit Punkt.\n")
    failures.add_failure_recorder(recorder)
    try:
        with sentry_session(aj_sentry_endpoint, auto_enabling_integrations=False):
            with run_worker(app):
                MailDeliveryJob.deliver_later(message)
                rejected = MailDeliveryJob.deliver_later(message_to("data-554@example.test"))
                wait_for(lambda: aj_smtp.delivered and failed, timeout=20)
            events = flushed_events(aj_sentry_endpoint)
        letters = store_for(app).list()
    finally:
        failures.remove_failure_recorder(recorder)
        app.close()

    [(mail_from, recipients, raw)] = aj_smtp.delivered
    assert mail_from == "shop@example.test"
    assert recipients == ["ann@example.test"]
    assert raw == message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

    [(job_id, reason, error)] = failed
    assert (job_id, reason) == (rejected.job_id, "unhandled")
    assert isinstance(error, smtplib.SMTPDataError) and error.smtp_code == 554
    [letter] = letters  # the rejected mail is kept in the dead-letter store
    assert (letter.job_id, letter.reason) == (rejected.job_id, "unhandled")
    assert letter.error_class.endswith("SMTPDataError")
    # Only events about the mail: a worker may log unrelated errors of its own at shutdown.
    [event] = [e for e in events if "SMTPDataError" in repr(e) or "job_id" in tags_of(e)]
    assert event["level"] == "error"
    assert tags_of(event)["job_id"] == rejected.job_id
    assert tags_of(event)["failure_reason"] == "unhandled"


@pytest.fixture
def aj_certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    need(shutil.which("openssl") is not None, "no openssl on PATH (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def _login(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"shop",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


def _trusting_job(cert):
    class TrustingMailJob(MailDeliveryJob):
        def ssl_context(self):
            return ssl.create_default_context(cafile=str(cert))

    return TrustingMailJob


@pytest.mark.parametrize("password", ["s3cret", "wrong"])
def test_starttls_and_login(password, aj_certificate, aj_test_queue):
    cert, server_context = aj_certificate
    handler = ReplyByRecipient()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=_login,
    )
    controller.start()
    try:
        use_settings(
            Settings(
                queue_adapter="test",
                smtp_host="127.0.0.1",
                smtp_port=controller.port,
                smtp_starttls=True,
                smtp_user="shop",
                smtp_password=password,
                smtp_from="shop@example.test",
            )
        )
        job_class = _trusting_job(cert)
        message = message_to("ann@example.test")
        del message["From"]  # filled from activejob_smtp_from
        if password == "wrong":
            # 535 is a permanent reply that is not an ignored one: the job fails.
            with pytest.raises(smtplib.SMTPAuthenticationError):
                job_class.deliver_now(message)
            assert handler.delivered == []
        else:
            assert job_class.deliver_now(message) is None
            [(mail_from, recipients, raw)] = handler.delivered
            assert (mail_from, recipients) == ("shop@example.test", ["ann@example.test"])
            assert b"From: shop@example.test" in raw
        assert aj_test_queue.enqueued_jobs == []
    finally:
        controller.stop()


def test_implicit_tls(aj_certificate, aj_test_queue):
    cert, server_context = aj_certificate
    handler = ReplyByRecipient()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), ssl_context=server_context
    )
    controller.start()
    try:
        settings = Settings(
            queue_adapter="test", smtp_host="127.0.0.1", smtp_port=controller.port, smtp_ssl=True
        )
        use_settings(settings)
        assert _trusting_job(cert).deliver_now(message_to("ann@example.test")) is None
        assert len(handler.delivered) == 1
        # Without trusting the private certificate the handshake fails: not retried, it fails.
        with pytest.raises(ssl.SSLCertVerificationError):
            MailDeliveryJob.deliver_now(message_to("ann@example.test"))
        assert len(handler.delivered) == 1
    finally:
        controller.stop()
