"""Optional integrations, imported on first use: Sentry reporting and SMTP delivery for jobs.

``activejob_celery.integrations.sentry`` needs the ``sentry`` extra; importing it without
sentry-sdk raises an ImportError that names the extra. The SMTP pieces use the standard library
only. Nothing here is imported by ``import activejob_celery``.

Example:
    >>> from activejob_celery.integrations import SmtpDeliveryErrorHandling, MailDeliveryJob
    >>> from activejob_celery.integrations import sentry     # doctest: +SKIP
    >>> sentry.install()                                       # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = [
    "MailDeliveryJob",
    "SmtpDeliveryErrorHandling",
    "autoinstall",
    "mail",
    "sentry",
    "smtp",
]

_SUBMODULES = ("mail", "sentry", "smtp")
_NAMES = {
    "SmtpDeliveryErrorHandling": "smtp",
    "SMTPServerBusy": "smtp",
    "SMTPSyntaxError": "smtp",
    "SMTPFatalError": "smtp",
    "MailDeliveryJob": "mail",
    "EmailMessageSerializer": "mail",
}


def __getattr__(name: str) -> Any:
    # Lazy: importing sentry-sdk costs ~0.15 s, and the extra may not be installed at all.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # checked: a fixed submodule name
    module = _NAMES.get(name)
    if module is not None:
        submodule = importlib.import_module(f"{__name__}.{module}")  # checked: from _NAMES
        return getattr(submodule, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_NAMES])


def autoinstall() -> list[str]:
    """Install the integrations whose library this process has already imported.

    ``init_app`` calls it. The Sentry integration is installed when ``sentry_sdk`` is in
    ``sys.modules`` (an app that calls ``sentry_sdk.init`` imports it first), so a process that
    never touches Sentry never pays for importing it. Returns the names installed.

    Example:
        >>> import sentry_sdk                                  # doctest: +SKIP
        >>> autoinstall()                                      # doctest: +SKIP
        ['sentry']
    """
    installed: list[str] = []
    if "sentry_sdk" in sys.modules:
        # import here: optional extra (sentry_sdk)
        from .sentry import install  # optional extra: imported only when sentry_sdk is in use

        if install():
            installed.append("sentry")
    return installed
