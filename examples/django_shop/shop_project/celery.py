"""The project's Celery app, as Celery's Django guide writes it.

``activejob_celery.contrib.django`` (in ``INSTALLED_APPS``) calls ``init_app`` on it when Django
starts, after ``CELERY_*`` settings were loaded here.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_project.settings")

app = Celery("shop_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
