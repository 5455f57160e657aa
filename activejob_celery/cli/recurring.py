"""``celery -A app jobs recurring ...``: recurring jobs on RedBeat."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import click

from ..errors import ActiveJobError
from ..parts_off import RECURRING, parts_off
from ..recurring import parse_schedule, recurring_tasks, run_now, sync
from .context import app_from


@click.group(name="recurring")
def recurring() -> None:
    """List recurring jobs with their next run, sync them to RedBeat, run one now."""


@recurring.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Every recurring job in RedBeat with its schedule, next run and last run."""
    app = _loaded_app(ctx)
    rows = []
    for task in recurring_tasks(app):
        spec = task.spec
        zone = _zone(spec.get("schedule"), app.timezone)
        rows.append(
            {
                "key": task.key,
                "class": spec.get("class"),
                "schedule": spec.get("schedule"),
                "queue": spec.get("queue"),
                "priority": spec.get("priority"),
                "description": spec.get("description"),
                "static": task.static,
                "next_run_at": _when(task.next_run_at, zone),
                "last_run_at": _when(task.last_run_at, zone),
                "total_run_count": task.total_run_count,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No recurring jobs in RedBeat (run: celery -A <app> jobs recurring sync).")
        return
    for row in rows:
        origin = "" if row["static"] else "  [runtime]"
        click.echo(f"{row['key']}  {row['class']}  {row['schedule']!r}{origin}")
        click.echo(
            f"    next run: {row['next_run_at'] or '-'}   last run: {row['last_run_at'] or '-'}"
        )
        if row["description"]:
            click.echo(f"    {row['description']}")


@recurring.command(name="sync")
@click.pass_context
def sync_command(ctx: click.Context) -> None:
    """Reconcile RedBeat with activejob_recurring_schedule: add, update and remove entries."""
    app = _loaded_app(ctx)
    try:
        result = sync(app)
    except ActiveJobError as error:
        raise click.ClickException(str(error)) from None
    for verb in ("added", "updated", "removed"):
        for key in getattr(result, verb):
            click.echo(f"{verb} {key}")
    click.echo(
        f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.removed)} removed, {len(result.unchanged)} unchanged"
    )


@recurring.command(name="run-now")
@click.argument("key")
@click.pass_context
def run_now_command(ctx: click.Context, key: str) -> None:
    """Enqueue one run of KEY now (its schedule is unchanged)."""
    app = _loaded_app(ctx)
    try:
        job = run_now(key, app=app)
    except (ActiveJobError, LookupError) as error:
        raise click.ClickException(str(error)) from None
    if job is False:
        click.echo(f"{key}: a before_enqueue callback halted the run")
        return
    click.echo(f"Enqueued {key}: {job.job_name} (Job ID: {job.job_id}) to {job.queue_name}")


def _loaded_app(ctx: click.Context) -> Any:
    app = app_from(ctx)
    off = parts_off(app).get(RECURRING)
    if off is not None:  # RedBeat has no Redis (RabbitMQ broker): one line, not a traceback
        raise click.ClickException(f"Recurring jobs are off: {off}")
    # Job classes often live in autodiscovered modules; the worker imports them, so must we.
    app.loader.import_default_modules()
    return app


def _zone(schedule: object, default: tzinfo) -> tzinfo:
    try:
        zone = parse_schedule(str(schedule)).zone
    except ActiveJobError:
        return default
    return ZoneInfo(zone) if zone else default


def _when(moment: datetime | None, zone: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")
