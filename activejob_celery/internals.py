"""The one door to Celery's, kombu's and RedBeat's private attributes.

Every read or write of a private (underscore) attribute of a Celery, kombu or RedBeat object in
this package goes through a function here, so that an upgrade that changes one of them breaks
this module's shape checks at start, with one WARNING naming the part that turns off, instead
of a job going missing later.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


# --- direct publish ---


def cached_value(owner: object, name: str) -> Any:
    """The value Celery's/kombu's ``cached_property`` ``name`` of ``owner`` holds, read fast.

    kombu's ``cached_property`` takes a lock on every read; once computed, the value sits in the
    instance's ``__dict__`` under the property's name. Reading it there costs a dict lookup.
    When it is not there (not computed yet, or kombu stores it elsewhere), the property is read
    normally: slower, never wrong.

    Example:
        >>> cached_value(app, "amqp") is app.amqp               # doctest: +SKIP
        True
    """
    value = vars(owner).get(name)
    return getattr(owner, name) if value is None else value
