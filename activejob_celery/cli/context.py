"""The Celery app a ``celery -A app jobs ...`` command runs for."""

from __future__ import annotations

from typing import Any

import click


def app_from(ctx: click.Context) -> Any:
    """The Celery app given with ``celery -A``.

    Raises:
        click.UsageError: no ``-A``.

    Example:
        >>> app_from(click.get_current_context()).main          # doctest: +SKIP
        'shop'
    """
    root = ctx.find_root()
    app = getattr(root.obj, "app", None)
    if app is None:
        raise click.UsageError("Give the app: celery -A your_app jobs ...")
    return app
