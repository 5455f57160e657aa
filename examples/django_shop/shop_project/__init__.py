"""The project package imports its Celery app, so Django and the worker share it."""

from .celery import app as celery_app

__all__ = ["celery_app"]
