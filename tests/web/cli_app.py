"""A Celery app for the ``jobs web`` CLI tests (``-A tests.web.cli_app``), Redis from the env."""

from __future__ import annotations

import os

from celery import Celery

import activejob_celery

app = Celery("aj_web_cli", broker=os.environ["AJ_WEB_REDIS_URL"])
app.conf.update(broker_connection_retry_on_startup=True)
if os.environ.get("AJ_WEB_TOKEN"):
    app.conf.activejob_web_token = os.environ["AJ_WEB_TOKEN"]
activejob_celery.init_app(app)
