"""What the integrations add to the core: optional imports, GlobalID forms, settings, startup."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from celery import Celery

from activejob_celery import GlobalID
from activejob_celery.config import Settings
from activejob_celery.contrib.django import apps as django_apps
from activejob_celery.errors import ConfigurationError
from activejob_celery.global_id import check_app_name
from tests.contrib.shop import jobs as shop_jobs


def test_a_bare_import_loads_neither_django_nor_sqlalchemy() -> None:
    # kombu itself imports django.utils.functional when Django is installed: that one is not ours.
    code = (
        "import sys, activejob_celery, activejob_celery.contrib.transactions;"
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'django.db',"
        " 'django.apps', 'django.conf', 'activejob_celery.contrib.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['activejob_celery.contrib.transactions']"


def test_a_composite_key_round_trips_through_the_uri() -> None:
    gid = GlobalID("shop", "LineItem", (1, "a b/c"))
    assert str(gid) == "gid://shop/LineItem/1/a%20b%2Fc"
    assert GlobalID.parse(str(gid)) == GlobalID("shop", "LineItem", ("1", "a b/c"))
    assert GlobalID.parse("gid://shop/Order/42").model_id == "42"
    with pytest.raises(ValueError):
        GlobalID.parse("gid://shop/Order/" + "/".join(["1"] * 21))


def test_an_app_name_must_be_a_uri_host() -> None:
    assert check_app_name("my-shop") == "my-shop"
    with pytest.raises(ValueError, match="valid URI host"):
        check_app_name("my app")


def test_the_setting_is_off_by_default_and_must_be_a_bool() -> None:
    assert Settings().enqueue_after_transaction_commit is False
    app = Celery("s", set_as_current=False)
    app.conf.activejob_enqueue_after_transaction_commit = "yes"
    with pytest.raises(ConfigurationError, match="enqueue_after_transaction_commit"):
        Settings.from_app(app)


def test_the_django_app_discovered_the_jobs_modules() -> None:
    assert shop_jobs.DiscoveredJob.job_name.endswith("DiscoveredJob")


def test_celery_activejob_settings_reach_an_app_that_did_not_load_them() -> None:
    app = Celery("proj", set_as_current=False)
    app.conf.activejob_default_queue_name = "mine"
    django_apps.copy_settings(app)
    assert app.conf.activejob_log_arguments is True  # CELERY_ACTIVEJOB_LOG_ARGUMENTS
    assert app.conf.activejob_default_queue_name == "mine"  # what the app loaded stays


def test_without_a_celery_app_the_django_app_warns_naming_the_setting(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(django_apps, "current_celery_app", lambda: Celery(set_as_current=False))
    with caplog.at_level(logging.WARNING):
        assert django_apps.project_celery_app() is None
    assert "ACTIVEJOB_CELERY_APP" in caplog.text


def test_the_django_app_uses_the_project_celery_app(monkeypatch: pytest.MonkeyPatch) -> None:
    project = Celery("proj", set_as_current=False)
    monkeypatch.setattr(django_apps, "current_celery_app", lambda: project)
    assert django_apps.project_celery_app() is project
