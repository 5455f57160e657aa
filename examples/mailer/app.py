"""The mailer example's Celery app: ``celery -A app worker`` delivers the mail jobs in ``jobs.py``.

The broker is ``$MAILER_BROKER_URL`` (default ``redis://localhost:6379/0``); mail goes to the
local SMTP server of ``smtp_server.py``. With ``$SENTRY_DSN`` set, errors go to Sentry too.
"""

from __future__ import annotations

import os

from celery import Celery

import activejob_celery

if os.environ.get("SENTRY_DSN"):
    import sentry_sdk

    from activejob_celery.integrations import sentry

    sentry_sdk.init(dsn=os.environ["SENTRY_DSN"])
    sentry.install()  # explicit; installing twice is harmless

BROKER_URL = os.environ.get("MAILER_BROKER_URL", "redis://localhost:6379/0")

app = Celery("mailer", broker=BROKER_URL, include=["jobs"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    activejob_smtp_host="127.0.0.1",
    activejob_smtp_port=int(os.environ.get("MAILER_SMTP_PORT", "8025")),
    activejob_smtp_from="shop@example.test",
)
activejob_celery.init_app(app)
