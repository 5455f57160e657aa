"""Django settings for the shop test app, shared by the contrib tests, their scripts and benchmarks.

Example:
    >>> configure_shop({"ENGINE": "django.db.backends.sqlite3", "NAME": "x.db"})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "activejob_celery.contrib.django",
    "tests.contrib.shop",
]


def configure_shop(database: dict[str, Any], **extra: Any) -> None:
    """Configure Django once in this process (the shop app on ``database``) and set it up."""
    if settings.configured:
        return
    settings.configure(
        DATABASES={"default": database},
        INSTALLED_APPS=INSTALLED_APPS,
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        **extra,
    )
    django.setup()
