"""``celery -A app jobs ...``: the operator commands, a Celery subcommand (``celery.commands``)."""

from __future__ import annotations

import click

from ..app import init_app, is_initialised
from .blocked import blocked
from .context import app_from as app_from
from .dead import dead
from .recurring import recurring
from .running import running, workers
from .scheduled import scheduled, scheduler
from .stats import stats
from .status import cancel, status
from .web import web


@click.group(name="jobs")
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """Inspect and operate activejob-celery: scheduled jobs, dead letters, recurring jobs, stats."""
    app = app_from(ctx)
    if not is_initialised(app):
        init_app(app)


jobs.add_command(scheduled)
jobs.add_command(scheduler)
jobs.add_command(dead)
jobs.add_command(recurring)
jobs.add_command(stats)
jobs.add_command(web)
jobs.add_command(blocked)
jobs.add_command(running)
jobs.add_command(workers)
jobs.add_command(status)
jobs.add_command(cancel)
