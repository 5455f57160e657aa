"""SQLAlchemy integration: ``install(session_factory, app=celery_app)``.

Mapped objects travel as GlobalIDs (``gid://<gid_app>/<module.Class>/<pk>``, composite keys
joined by ``/``), located at perform time with a session from ``session_factory`` that is closed
after the job. Jobs with ``enqueue_after_transaction_commit`` enqueued while a session of the
factory has a transaction open are published after its outermost commit.

Example:
    >>> from activejob_celery.contrib.sqlalchemy import install      # doctest: +SKIP
    >>> install(sessionmaker(engine), app=celery_app)                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.signals import task_postrun

from ...app import init_app, is_initialised
from ...global_id import add_identifier, add_locator, check_app_name
from ..transactions import add_hook
from .global_ids import SQLAlchemyLocator, identify_for, model_name
from .transactions import TransactionTracker

__all__ = ["SQLAlchemyLocator", "TransactionTracker", "install", "model_name"]

DEFAULT_APP = "sqlalchemy"


def install(
    session_factory: Callable[[], Any], *, app: Celery | None = None, gid_app: str = DEFAULT_APP
) -> SQLAlchemyLocator:
    """Set up GlobalIDs and enqueue-after-commit for the sessions of ``session_factory``.

    Args:
        session_factory: a ``sessionmaker`` (or ``scoped_session``) of the application.
        app: the Celery app; ``init_app`` is called on it unless it already was.
        gid_app: the app part of the GlobalIDs (a URI host).

    Returns:
        The locator. A worker closes its locating session after each task; elsewhere (inline
        adapter, scripts) call ``locator.close()`` when done with the located records.

    Example:
        >>> install(sessionmaker(engine), app=celery_app, gid_app="shop")   # doctest: +SKIP
    """
    check_app_name(gid_app)
    if app is not None and not is_initialised(app):
        init_app(app)
    locator = SQLAlchemyLocator(session_factory)
    add_identifier(identify_for(gid_app))
    add_locator(gid_app, locator)
    task_postrun.connect(locator.close, weak=False)
    add_hook(TransactionTracker(session_factory).defer)
    return locator
