"""``SmtpDeliveryErrorHandling``: the Rails guide's SMTP error-handling concern, for smtplib.

smtplib raises one class per SMTP command (``SMTPDataError``, ``SMTPRecipientsRefused``, ...)
whatever the reply code, while the Rails concern rescues by kind of reply, as Ruby's Net::SMTP
raises them. :class:`SMTPServerBusy` (4xx), :class:`SMTPSyntaxError` (50x) and
:class:`SMTPFatalError` (other 5xx) give smtplib errors those kinds: ``isinstance`` classifies
an error by its reply code, and a refusal of every recipient by each recipient's code. They are
meant for ``retry_on`` / ``rescue_from`` and ``isinstance``; an ``except`` clause compares
classes only, so it does not see this classification.
"""

from __future__ import annotations

import logging
import smtplib
import socket
from typing import Any, ClassVar, Final

from ..backoff import DEFAULT, POLYNOMIALLY_LONGER
from ..base import ApplicationJob
from ..declaration import collect
from ..errors import ConfigurationError
from ..reporting import report_error
from ..rescue import Handler, RetryOn, rescue_from

__all__ = [
    "CONNECTION_ERRORS",
    "IGNORED_REPLIES",
    "SMTPFatalError",
    "SMTPServerBusy",
    "SMTPSyntaxError",
    "SmtpDeliveryErrorHandling",
    "is_ignored_reply",
    "reply_kind",
    "smtp_replies",
]

logger = logging.getLogger(__name__)

CONNECTION_ERRORS: Final[tuple[type[BaseException], ...]] = (
    TimeoutError,  # socket.timeout is an alias of it
    ConnectionError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    socket.gaierror,  # DNS resolution failed (Ruby's Socket::ResolutionError)
)
"""Network failures the mixin retries: the connection never worked or went away."""

IGNORED_REPLIES: Final = ("501 5.1.3", "550 5.1.1", "552 5.6.0")
"""Permanent replies that end the job quietly: invalid address, unknown user, too large."""


def smtp_replies(error: BaseException) -> list[tuple[int, str]]:
    """The replies an smtplib error carries: its own, or one per refused recipient.

    Example:
        >>> smtp_replies(smtplib.SMTPDataError(552, b"5.6.0 Message too big"))
        [(552, '5.6.0 Message too big')]
    """
    if isinstance(error, smtplib.SMTPConnectError):
        return []  # a greeting that is not 220 is a connection problem, retried as such
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return [(int(code), _text(message)) for code, message in error.recipients.values()]
    if isinstance(error, smtplib.SMTPResponseException):
        return [(int(error.smtp_code), _text(error.smtp_error))]
    return []


def reply_kind(error: BaseException) -> str | None:
    """``"busy"`` (any 4xx), ``"syntax"`` (all 50x), ``"fatal"`` (other 5xx) or None.

    Example:
        >>> reply_kind(smtplib.SMTPRecipientsRefused({"a@x": (451, b"4.3.0 busy")}))
        'busy'
    """
    codes = [code for code, _ in smtp_replies(error)]
    if not codes:
        return None
    if any(400 <= code < 500 for code in codes):
        return "busy"
    if all(500 <= code < 510 for code in codes):
        return "syntax"
    if all(500 <= code < 600 for code in codes):
        return "fatal"
    return None


def is_ignored_reply(error: BaseException, ignored: tuple[str, ...] = IGNORED_REPLIES) -> bool:
    """Whether every reply in ``error`` starts with one of ``ignored`` (``"550 5.1.1"``).

    Example:
        >>> is_ignored_reply(smtplib.SMTPDataError(552, b"5.6.0 Message too big"))
        True
    """
    replies = smtp_replies(error)
    return bool(replies) and all(
        f"{code} {text}".startswith(tuple(ignored)) for code, text in replies
    )


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


class _ReplyKind(type):
    """``isinstance(error, cls)`` is true for smtplib errors whose replies are of cls's kind."""

    kind: str

    def __instancecheck__(cls, instance: Any) -> bool:
        return type.__instancecheck__(cls, instance) or reply_kind(instance) == cls.kind


class SMTPServerBusy(smtplib.SMTPResponseException, metaclass=_ReplyKind):
    """A temporary 4xx reply (Ruby's ``Net::SMTPServerBusy``); retried by the mixin.

    Example:
        >>> isinstance(smtplib.SMTPDataError(451, b"4.3.0 try later"), SMTPServerBusy)
        True
    """

    kind = "busy"


class SMTPSyntaxError(smtplib.SMTPResponseException, metaclass=_ReplyKind):
    """A permanent 50x reply such as ``501 5.1.3`` (Ruby's ``Net::SMTPSyntaxError``).

    Example:
        >>> isinstance(smtplib.SMTPRecipientsRefused({"x": (501, b"5.1.3 bad")}), SMTPSyntaxError)
        True
    """

    kind = "syntax"


class SMTPFatalError(smtplib.SMTPResponseException, metaclass=_ReplyKind):
    """Any other permanent 5xx reply, such as ``550 5.1.1`` (Ruby's ``Net::SMTPFatalError``).

    Example:
        >>> isinstance(smtplib.SMTPDataError(554, b"5.7.1 rejected"), SMTPFatalError)
        True
    """

    kind = "fatal"


class _ClassConfiguredRetry(RetryOn):
    """``retry_on`` whose attempts, wait and jitter come from ``smtp_retry_*`` of the job class."""

    def __init__(self, exceptions: tuple[type[BaseException], ...]) -> None:
        super().__init__(exceptions, POLYNOMIALLY_LONGER, 5, None, None, DEFAULT, False)

    def bind(self, job_class: type[ApplicationJob]) -> Handler:
        try:
            return RetryOn(
                self.exceptions,
                wait=getattr(job_class, "smtp_retry_wait", POLYNOMIALLY_LONGER),
                attempts=getattr(job_class, "smtp_retry_attempts", 5),
                queue=None,
                priority=None,
                jitter=getattr(job_class, "smtp_retry_jitter", DEFAULT),
                report=bool(getattr(job_class, "smtp_retry_report", False)),
            )
        except ConfigurationError as error:
            raise ConfigurationError(
                f"{job_class.__qualname__}: smtp_retry_wait / smtp_retry_attempts / "
                f"smtp_retry_jitter are invalid: {error}"
            ) from None


class SmtpDeliveryErrorHandling(ApplicationJob, abstract=True):
    """Retry network errors and busy servers; end quietly on permanent address replies.

    * ``TimeoutError``, ``ConnectionError``, ``SMTPServerDisconnected``, ``SMTPConnectError`` and
      DNS failures (``socket.gaierror``) are retried, as are 4xx replies (:class:`SMTPServerBusy`),
      each with its own budget: ``smtp_retry_attempts`` (5) waiting ``smtp_retry_wait``
      (``POLYNOMIALLY_LONGER``: 3, 18, 83, 258 s) jittered by ``smtp_retry_jitter``.
    * ``501 5.1.3`` (invalid address), ``550 5.1.1`` (unknown user) and ``552 5.6.0`` (message
      too large), ``smtp_ignored_replies``, are reported at ``smtp_ignored_level`` ("info") and
      the job ends without a retry.
    * Any other 5xx is raised again: the job fails (and is kept as a dead letter).

    Override the ``smtp_*`` attributes in the class body of the job that mixes it in.

    Example:
        >>> class WelcomeEmailJob(SmtpDeliveryErrorHandling, ApplicationJob):   # doctest: +SKIP
        ...     smtp_retry_attempts = 10
        ...     def perform(self, user_id):
        ...         send_welcome_mail(user_id)
    """

    smtp_retry_attempts: ClassVar[Any] = 5
    """Total executions per kind of error (network, busy), or ``UNLIMITED``."""
    smtp_retry_wait: ClassVar[Any] = POLYNOMIALLY_LONGER
    """Any ``retry_on`` wait: seconds, timedelta, backoff object or callable."""
    smtp_retry_jitter: ClassVar[Any] = DEFAULT
    """Jitter for those retries; DEFAULT follows ``activejob_retry_jitter``."""
    smtp_retry_report: ClassVar[bool] = False
    """Report each retried error to the error reporters at warning level."""
    smtp_ignored_replies: ClassVar[tuple[str, ...]] = IGNORED_REPLIES
    """Reply prefixes (code and enhanced status) that end the job without a retry."""
    smtp_ignored_level: ClassVar[str] = "info"
    """The level at which those replies are reported."""

    collect(_ClassConfiguredRetry(CONNECTION_ERRORS))
    collect(_ClassConfiguredRetry((SMTPServerBusy,)))

    @rescue_from(SMTPSyntaxError, SMTPFatalError)
    def smtp_delivery_rejected(self, error: BaseException) -> None:
        """Report an ignored permanent reply and end the job; raise any other 5xx again."""
        cls = type(self)
        if not is_ignored_reply(error, cls.smtp_ignored_replies):
            raise error
        replies = [f"{code} {text}" for code, text in smtp_replies(error)]
        logger.info("Not delivering %s (Job ID: %s): %s", cls.__qualname__, self.job_id, replies)
        report_error(
            error,
            job=self,
            handled=True,
            level=cls.smtp_ignored_level,
            context={"smtp_replies": replies},
        )
