"""Settings of the django_shop example: SQLite, Redis on localhost, jobs after commit."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "activejob_celery.contrib.django",
    "orders",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "shop_project.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

CELERY_BROKER_URL = os.environ.get("SHOP_BROKER_URL", "redis://localhost:6379/0")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
# Jobs enqueued inside a transaction are published after it commits (Rails 8.2's default).
CELERY_ACTIVEJOB_ENQUEUE_AFTER_TRANSACTION_COMMIT = True
# A recurring job, run by the worker's embedded beat (`worker -B`, needs celery-redbeat).
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_REDBEAT_REDIS_URL = CELERY_BROKER_URL
CELERY_ACTIVEJOB_RECURRING_SCHEDULE = {
    "order_report": {"class": "OrderReportJob", "schedule": "every minute"},
}
