"""The sentry-sdk versions the Sentry integration supports, and the calls that differ by version.

Example:
    >>> import sentry_sdk                                      # doctest: +SKIP
    >>> supported(sentry_sdk)                                  # doctest: +SKIP
    True
"""

from __future__ import annotations

import inspect
import logging
import threading
from types import ModuleType
from typing import Any

from sentry_sdk.utils import event_from_exception

logger = logging.getLogger("activejob_celery.integrations.sentry")

SUPPORTED_MAJOR = 2
"""sentry-sdk 3 changed the scope, transaction and logging APIs this integration relies on."""

_TAKES_OPTIONS = "client_options" in inspect.signature(event_from_exception).parameters
_warned = threading.Event()


def supported(sdk: ModuleType) -> bool:
    """Whether ``sdk`` (the ``sentry_sdk`` module) is a major version this integration supports.

    On another one it logs one WARNING that names the version and the fix, once per process.

    Example:
        >>> supported(sentry_sdk)                              # doctest: +SKIP
        True
    """
    version = str(getattr(sdk, "VERSION", ""))
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) == SUPPORTED_MAJOR:
        return True
    if not _warned.is_set():
        _warned.set()
        logger.warning(
            "activejob_celery's Sentry reporting supports sentry-sdk %d.x, not %s: job errors "
            "reach Sentry only through Sentry's own integrations, without job context. Install "
            "sentry-sdk<3 (the activejob-celery[sentry] extra pins it).",
            SUPPORTED_MAJOR,
            version,
        )
    return False


def event_from(error: BaseException, client: Any, mechanism: dict[str, Any]) -> tuple[Any, Any]:
    """Sentry's event and hint for ``error``: sentry-sdk 2 takes the client's options.

    Example:
        >>> client = sentry_sdk.get_client()                   # doctest: +SKIP
        >>> event, hint = event_from(error, client, {"type": "activejob"})  # doctest: +SKIP
    """
    build: Any = event_from_exception
    options = {"client_options": client.options} if _TAKES_OPTIONS else {}
    return build(error, mechanism=mechanism, **options)  # type: ignore[no-any-return]
