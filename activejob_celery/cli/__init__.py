"""``celery -A app jobs ...``: the operator commands, a Celery subcommand (``celery.commands``)."""

from __future__ import annotations

from typing import Any

import click

from .blocked import blocked
from .dead import dead
from .recurring import recurring
from .scheduled import scheduled, scheduler
from .stats import stats
from .status import cancel, status
from .web import web


@click.group(name="jobs")
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """Inspect and operate activejob-celery: scheduled jobs, dead letters, recurring jobs, stats."""
    app = app_from(ctx)
    from ..app import init_app, is_initialised

    if not is_initialised(app):
        init_app(app)


def app_from(ctx: click.Context) -> Any:
    """The Celery app given with ``celery -A``."""
    root = ctx.find_root()
    app = getattr(root.obj, "app", None)
    if app is None:
        raise click.UsageError("Give the app: celery -A your_app jobs ...")
    return app


jobs.add_command(scheduled)
jobs.add_command(scheduler)
jobs.add_command(dead)
jobs.add_command(recurring)
jobs.add_command(stats)
jobs.add_command(web)
jobs.add_command(blocked)
jobs.add_command(status)
jobs.add_command(cancel)
