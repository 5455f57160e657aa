"""``celery -A app jobs scheduled ...`` and ``jobs scheduler`` (the scheduled set)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Sequence
from datetime import timezone
from typing import TYPE_CHECKING, Any

import click

from ..broker_queues import broker_url
from ..dead_letters.binding import settings_for
from ..errors import ConfigurationError
from ..scheduler import poller_for, scheduled_set_for
from .context import app_from

REDIS_FAMILY = ("redis", "rediss", "redis+socket", "socket", "unix", "sentinel")
"""Broker schemes whose Redis can hold the scheduled set."""
if TYPE_CHECKING:
    from ..scheduler import ScheduledJob, ScheduledSet


def _scheduled_set(ctx: click.Context) -> ScheduledSet:
    app = app_from(ctx)
    off = scheduled_set_off(app)
    if off is not None:
        raise click.ClickException(off)
    try:
        return scheduled_set_for(app)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


def scheduled_set_off(app: Any) -> str | None:
    """Why ``app`` has no scheduled set to show (one line), or None when it has one.

    Example:
        >>> scheduled_set_off(rabbit_app)                         # doctest: +SKIP
        "No scheduled set: on the 'amqp' broker delayed jobs are Celery ETA messages ..."
    """
    settings = settings_for(app)
    broker = broker_url(app) or ""
    if settings.resolved_scheduler(broker) == "redis":
        return None
    scheme = broker.split("://", 1)[0].lower() if "://" in broker else ""
    if settings.scheduler_url or scheme in REDIS_FAMILY:
        return None  # a Redis is there: show its set (entries from before a switch to ETA)
    return (
        f"No scheduled set: on the {scheme or 'configured'!r} broker delayed jobs are Celery "
        "ETA messages held by workers; set activejob_scheduler_url = 'redis://host:6379/0' to "
        "keep them in a Redis scheduled set"
    )


@click.group(name="scheduled")
def scheduled() -> None:
    """List, show, run now, delete and count jobs waiting in the scheduled set."""


@scheduled.command(name="list")
@click.option("--limit", default=50, show_default=True, help="Show at most this many jobs.")
@click.option("--queue", default=None, help="Only jobs for this queue.")
@click.option("--class", "job_class", help="Only this job class (job_name or class name).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_context
def list_jobs(
    ctx: click.Context, limit: int, queue: str | None, job_class: str | None, as_json: bool
) -> None:
    """Waiting jobs, soonest first."""
    jobs = _scheduled_set(ctx).list(limit=limit, queue=queue, job_class=job_class)
    if as_json:
        click.echo(json.dumps([job.as_dict() for job in jobs], indent=2))
        return
    if not jobs:
        click.echo("No scheduled jobs.")
        return
    now = time.time()
    rows = [
        (
            job.job_id,
            job.job_class.rsplit(".", 1)[-1],
            job.queue_name,
            "" if job.priority is None else str(job.priority),
            job.run_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "publishing" if job.claimed else _relative(job.run_at.timestamp() - now),
            _truncate(json.dumps(job.arguments), 40),
        )
        for job in jobs
    ]
    click.echo(_table(("JOB ID", "CLASS", "QUEUE", "PRI", "RUN AT (UTC)", "IN", "ARGUMENTS"), rows))


@scheduled.command(name="show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """One waiting job, by job_id (or Celery task id), with its payload."""
    job = _scheduled_set(ctx).get(job_id)
    if job is None:
        raise click.ClickException(f"No scheduled job {job_id}")
    if as_json:
        click.echo(json.dumps(job.as_dict(), indent=2))
        return
    click.echo(_describe(job))


@scheduled.command(name="run-now")
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_context
def run_now(ctx: click.Context, job_ids: tuple[str, ...]) -> None:
    """Publish waiting jobs to their queues at once."""
    _for_each(job_ids, _scheduled_set(ctx).run_now, "Released")


@scheduled.command(name="delete")
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_context
def delete(ctx: click.Context, job_ids: tuple[str, ...]) -> None:
    """Remove waiting jobs; they never run."""
    _for_each(job_ids, _scheduled_set(ctx).delete, "Deleted")


def _for_each(job_ids: tuple[str, ...], action: Callable[[str], int], done: str) -> None:
    missing = [job_id for job_id in job_ids if action(job_id) == 0]
    click.echo(f"{done} {len(job_ids) - len(missing)} job(s).")
    if missing:
        raise click.ClickException(f"No scheduled job {', '.join(missing)}")


@scheduled.command(name="count")
@click.pass_context
def count(ctx: click.Context) -> None:
    """How many jobs wait in the scheduled set."""
    click.echo(str(_scheduled_set(ctx).count()))


@click.command(name="scheduler")
@click.option("--once", is_flag=True, help="Release what is due now, then exit.")
@click.pass_context
def scheduler(ctx: click.Context, once: bool) -> None:
    """Run the scheduled-set poller on its own (workers also run it, unless disabled)."""
    _scheduled_set(ctx)  # one clear line, not a traceback, when there is none
    poller = poller_for(app_from(ctx))
    scheduled_set = poller.scheduled
    if once:
        while poller.run_once().released >= scheduled_set.batch_size:
            pass
        click.echo(f"Released {poller.released} job(s).")
        return
    mode = "direct" if scheduled_set.direct else "through Celery"
    signalled: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        # Only record it: a handler that took the poller's locks could deadlock this thread.
        signalled.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    poller.start()
    click.echo(
        f"Scheduler polling {scheduled_set.key} ({mode}) every {poller.interval:g}s; "
        "Ctrl-C to stop."
    )
    while not signalled and poller.running:
        time.sleep(0.1)
    poller.stop()
    click.echo(f"Scheduler stopped; released {poller.released} job(s).")


def _describe(job: ScheduledJob) -> str:
    lines = [
        f"Job ID:        {job.job_id}",
        f"Task ID:       {job.provider_job_id}",
        f"Class:         {job.job_class}",
        f"Queue:         {job.queue_name}",
        f"Priority:      {'' if job.priority is None else job.priority}",
        f"Run at:        {job.run_at.isoformat()}",
        f"State:         {'publishing (claimed)' if job.claimed else 'waiting'}",
        f"Executions:    {job.executions}",
        f"Arguments:     {json.dumps(job.arguments)}",
        "Payload:",
        json.dumps(job.payload, indent=2),
    ]
    return "\n".join(lines)


def _relative(seconds: float) -> str:
    if seconds <= 0:
        return "due"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{seconds:.1f}s"


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)
