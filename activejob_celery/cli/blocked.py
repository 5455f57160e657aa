"""``celery -A app jobs blocked``: concurrency keys, their slot holders and the jobs waiting."""

from __future__ import annotations

import json
import time

import click

from ..concurrency import LockStore, store_for_app, unblock
from .context import app_from


def _store(ctx: click.Context) -> LockStore:
    store = store_for_app(app_from(ctx))
    if store is None:
        raise click.ClickException(
            "No concurrency locks: they live in the scheduled set's Redis; set "
            "activejob_scheduler_url = 'redis://host:6379/0'"
        )
    return store


@click.command(name="blocked")
@click.option("--key", "only", default=None, help="Show only this concurrency key.")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@click.option(
    "--release",
    "release",
    default=None,
    metavar="JOB_ID",
    help="Free the slot JOB_ID holds under --key (a stuck holder); the next blocked job runs.",
)
@click.pass_context
def blocked(ctx: click.Context, only: str | None, as_json: bool, release: str | None) -> None:
    """Concurrency keys with their held slots (holder, expiry) and blocked jobs, next first.

    Example: celery -A shop jobs blocked --key SyncAccountJob/42
    """
    store = _store(ctx)
    if release is not None:
        if only is None:
            raise click.UsageError("--release needs --key")
        moved = store.release(only, release)
        count = unblock(store, moved, None, app=app_from(ctx), key=only)
        click.echo(f"Released {release} from {only}; {count} blocked job(s) published")
        return
    states = store.keys_in_use(only)
    if as_json:
        data = [
            {
                "key": state.key,
                "limit": state.limit,
                "holders": [{"job_id": job_id, "expires_at": at} for job_id, at in state.holders],
                "blocked": state.blocked,
            }
            for state in states
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if not states:
        click.echo("No concurrency key holds a slot or has blocked jobs.")
        return
    now = time.time()
    for state in states:
        click.echo(f"{state.key}  limit {state.limit}  held {len(state.holders)}  "
                   f"blocked {len(state.blocked)}")  # fmt: skip
        for job_id, at in state.holders:
            click.echo(f"  holder  {job_id}  expires in {max(0.0, at - now):.0f}s")
        for job in state.blocked:
            click.echo(
                f"  blocked {job['job_id']}  {job['job_class']}  queue {job['queue_name']}  "
                f"priority {job['priority']}"
            )
