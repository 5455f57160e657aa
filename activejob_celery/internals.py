"""The one door to Celery's, kombu's and RedBeat's private attributes.

Every read or write of a private (underscore) attribute of a Celery, kombu or RedBeat object in
this package goes through a function here, so that an upgrade that changes one of them breaks
this module's shape checks at start, with one WARNING naming the part that turns off, instead
of a job going missing later.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)
