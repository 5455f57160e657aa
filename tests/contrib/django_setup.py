"""Django configured once per process for the contrib tests: SQLite files in a temp dir."""

from __future__ import annotations

import tempfile
from pathlib import Path

import django
from django.conf import settings

DIRECTORY = Path(tempfile.mkdtemp(prefix="aj-django-"))

if not settings.configured:
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(DIRECTORY / "db.sqlite3"),
                "TEST": {"NAME": str(DIRECTORY / "test.sqlite3")},
                "OPTIONS": {"timeout": 30},
            }
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "activejob_celery.contrib.django",
            "tests.contrib.shop",
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        CELERY_ACTIVEJOB_LOG_ARGUMENTS=True,
    )
    django.setup()
