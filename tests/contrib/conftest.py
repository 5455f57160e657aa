"""Django is configured (SQLite files in a temp dir) before any test module here imports it."""

from tests.contrib import django_setup  # noqa: F401
