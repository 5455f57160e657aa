"""``celery -A app jobs status JOB_ID`` and ``jobs cancel JOB_ID``: one job's status, and cancel."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import click

from ..errors import ConfigurationError
from ..status import cancel as cancel_job, job_status
from .context import app_from

_TIMES = ("updated_at", "started_at", "ended_at", "run_at")


@click.command(name="status")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """A job's status (queued, running, succeeded ...), progress and message.

    Example: celery -A shop jobs status 0b1c2d3e-... --json
    """
    try:
        found = job_status(job_id, app=app_from(ctx))
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    if found is None:
        if as_json:
            click.echo("null")
        raise click.ClickException(
            f"No status for job {job_id}: unknown id, or it ended more than "
            "activejob_status_ttl seconds ago"
        )
    if as_json:
        shown = {name: _iso(value) if name in _TIMES else value for name, value in found.items()}
        click.echo(json.dumps({"job_id": job_id, **shown}, indent=2))
        return
    for line in describe(job_id, found):
        click.echo(line)


@click.command(name="cancel")
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a job: it does not start, wherever its message is (a running one is not retried).

    Example: celery -A shop jobs cancel 0b1c2d3e-...
    """
    try:
        told = cancel_job(job_id, app=app_from(ctx))
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    before = told["status_before"]
    line = f"Cancelled {job_id} (status was {before or 'unknown'})"
    if told["unscheduled"]:
        line += "; removed from the scheduled set"
    if before == "running":
        line += (
            "; it runs to its end (a Continuable job stops at its next checkpoint) and is not "
            "retried"
        )
    click.echo(line)


def describe(job_id: str, found: dict[str, Any]) -> list[str]:
    """The human-readable lines of a status.

    Example:
        >>> describe("j1", {"status": "running", "done": 5, "total": 10, "message": None,
        ...                 "updated_at": None, "pct": 50.0})[:2]
        ['Job j1: running', 'Progress: 5 / 10 (50.0%)']
    """
    lines = [f"Job {job_id}: {found['status']}"]
    done, total = found.get("done"), found.get("total")
    if done is not None:
        progress = f"Progress: {done}" + (f" / {total}" if total is not None else "")
        if found.get("pct") is not None:
            progress += f" ({found['pct']}%)"
        lines.append(progress)
    if found.get("message"):
        lines.append(f"Message: {found['message']}")
    for name, label in (("job_class", "Class"), ("queue", "Queue"), ("worker", "Worker")):
        if found.get(name):
            lines.append(f"{label}: {found[name]}")
    now = time.time()
    for name, label in (
        ("run_at", "Runs at"),
        ("started_at", "Started"),
        ("ended_at", "Ended"),
        ("updated_at", "Updated"),
    ):
        value = found.get(name)
        if isinstance(value, float):
            lines.append(f"{label}: {_iso(value)} ({_ago(now - value)})")
    return lines


def _iso(value: Any) -> Any:
    if not isinstance(value, float):
        return value
    return datetime.fromtimestamp(value, timezone.utc).isoformat()


def _ago(seconds: float) -> str:
    return f"in {-seconds:.0f}s" if seconds < 0 else f"{seconds:.0f}s ago"
