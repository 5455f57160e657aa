"""The Django app: settings, ``init_app``, ``jobs`` discovery, GlobalIDs and commit hooks."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from ...app import init_app, is_initialised
from ...internals import current_celery_app
from ..loaded import loaded_object
from . import global_ids, transactions

logger = logging.getLogger(__name__)

SETTINGS_PREFIX = "CELERY_ACTIVEJOB_"


class ActiveJobConfig(AppConfig):
    """``activejob_celery.contrib.django`` in ``INSTALLED_APPS``.

    Django settings (outside the ``CELERY_`` namespace): ``ACTIVEJOB_CELERY_APP``, a dotted path
    to the project's Celery app (default: Celery's current app, the one ``proj/celery.py``
    creates), and ``ACTIVEJOB_GLOBAL_ID_APP`` (default ``"django"``).

    Example:
        >>> INSTALLED_APPS = ["activejob_celery.contrib.django"]   # doctest: +SKIP
    """

    name = "activejob_celery.contrib.django"
    label = "activejob_celery"
    verbose_name = "Active Job on Celery"

    def ready(self) -> None:
        """Set everything up once the models are loaded."""
        global_ids.install(getattr(settings, "ACTIVEJOB_GLOBAL_ID_APP", global_ids.DEFAULT_APP))
        transactions.install()
        app = project_celery_app()
        if app is not None:
            copy_settings(app)
            if not is_initialised(app):
                init_app(app)
        autodiscover_modules("jobs")


def project_celery_app() -> Any:
    """The Celery app named by ``ACTIVEJOB_CELERY_APP``, else the current one (None: none made).

    Example:
        >>> project_celery_app().main                           # doctest: +SKIP
        'proj'
    """
    path = getattr(settings, "ACTIVEJOB_CELERY_APP", None)
    if path:
        # Found among loaded modules, not imported: proj/__init__.py imports proj/celery.py
        # (Celery's Django guide), so the app exists by the time Django is ready.
        return loaded_object(path)
    app = current_celery_app()
    if app.main in (None, "default"):
        logger.warning(
            "activejob_celery.contrib.django found no Celery app: create it before Django starts "
            "(proj/celery.py imported by proj/__init__.py) or set ACTIVEJOB_CELERY_APP to its "
            "dotted path; init_app was not called"
        )
        return None
    return app


def copy_settings(app: Any) -> None:
    """Copy ``CELERY_ACTIVEJOB_X`` settings the app did not load itself to ``activejob_x``."""
    for name in dir(settings):
        if name.startswith(SETTINGS_PREFIX):
            key = name[len("CELERY_") :].lower()
            if key not in app.conf:
                app.conf[key] = getattr(settings, name)
