"""``celery -A app jobs running`` and ``jobs workers``: what runs now, and on which workers."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..running import running_jobs, store_for
from ..running.store import RunningStore
from .context import app_from

NO_REDIS = (
    "No running-jobs registry: it lives in the scheduled set's Redis; set "
    "activejob_scheduler_url = 'redis://host:6379/0'"
)


def _store(ctx: click.Context) -> RunningStore:
    store = store_for(app_from(ctx))
    if store is None:
        raise click.ClickException(NO_REDIS)
    return store


@click.command(name="running")
@click.option("--json", "as_json", is_flag=True, help="Print the running jobs as JSON.")
@click.pass_context
def running(ctx: click.Context, as_json: bool) -> None:
    """The jobs running now (class, job id, task id, queue, worker, started, progress, step).

    Example: celery -A shop jobs running --json
    """
    _store(ctx)
    jobs = running_jobs(app_from(ctx))
    if as_json:
        click.echo(json.dumps(jobs, indent=2, default=str))
        return
    if not jobs:
        click.echo("No job is running.")
        return
    now = time.time()
    rows = [
        [
            str(job.get("job_class", "")),
            str(job.get("job_id", "")),
            str(job.get("queue_name", "")),
            f"{job.get('worker', '')} (pid {job.get('pid', '?')})",
            _ago(job.get("started_at"), now),
            _progress(job),
            _step(job),
        ]
        for job in jobs
    ]
    _table(["CLASS", "JOB ID", "QUEUE", "WORKER", "STARTED", "PROGRESS", "STEP"], rows)


@click.command(name="workers")
@click.option("--json", "as_json", is_flag=True, help="Print the workers as JSON.")
@click.pass_context
def workers(ctx: click.Context, as_json: bool) -> None:
    """The workers alive now: hostname, pool, concurrency, queues, busy slots, last heartbeat.

    Example: celery -A shop jobs workers
    """
    found = _store(ctx).workers()
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    if not found:
        click.echo("No worker is running.")
        return
    now = time.time()
    rows = [
        [
            str(worker["hostname"]),
            str(worker["pool"]),
            str(worker["concurrency"] if worker["concurrency"] is not None else ""),
            f"{worker['busy']}/{worker['concurrency'] or '?'}",
            ",".join(worker["queues"]),
            _ago(worker["last_heartbeat"], now),
            _state(worker),
        ]
        for worker in found
    ]
    _table(["HOSTNAME", "POOL", "CONCURRENCY", "BUSY", "QUEUES", "HEARTBEAT", "STATE"], rows)


def _state(worker: dict[str, Any]) -> str:
    return "stale" if worker["stale"] else str(worker["state"])


def _ago(moment: Any, now: float) -> str:
    if not isinstance(moment, int | float):
        return "-"
    return f"{max(0.0, now - moment):.0f}s ago"


def _progress(job: dict[str, Any]) -> str:
    done, total, message = job.get("done"), job.get("total"), job.get("message")
    if done is None:
        return "-"
    text = f"{done}/{total}" if total is not None else str(done)
    return f"{text} {message}" if message else text


def _step(job: dict[str, Any]) -> str:
    step, cursor = job.get("step"), job.get("cursor")
    if step is None:
        return "-"
    return f"{step} @ {cursor}" if cursor is not None else str(step)


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
