"""Django configured once per process for the contrib tests: SQLite files in a temp dir."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.contrib.shop_settings import configure_shop

DIRECTORY = Path(tempfile.mkdtemp(prefix="aj-django-"))

configure_shop(
    {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DIRECTORY / "db.sqlite3"),
        "TEST": {"NAME": str(DIRECTORY / "test.sqlite3")},
        "OPTIONS": {"timeout": 30},
    },
    CELERY_ACTIVEJOB_LOG_ARGUMENTS=True,
)
