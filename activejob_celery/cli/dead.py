"""``celery -A app jobs dead ...``: list, show, retry, discard and purge dead letters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click

from ..dead_letters.formatting import describe, letters_table
from .dead_support import (
    filter_options,
    progress_bar,
    resolve_ids,
    store_of,
    when_option,
)


@click.group(name="dead")
def dead() -> None:
    """List, show, retry, discard and purge jobs that failed for good."""


@dead.command(name="list")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of full records.")
@click.pass_context
def list_command(ctx: click.Context, /, limit: int | None, as_json: bool, **filters: Any) -> None:
    """List dead letters, newest first.

    Example: celery -A shop jobs dead list --reason exhausted --since 2h
    """
    letters = store_of(ctx).list(limit=limit, **filters)
    if as_json:
        click.echo(json.dumps([letter.to_dict() for letter in letters], indent=2))
        return
    if not letters:
        click.echo("No dead letters.")
        return
    click.echo(letters_table(letters))
    click.echo(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}")


@dead.command(name="show")
@click.argument("letter_id")
@click.option("--json", "as_json", is_flag=True, help="Print the full record as JSON.")
@click.pass_context
def show(ctx: click.Context, letter_id: str, as_json: bool) -> None:
    """Show one dead letter (an id or a unique prefix): payload and traceback."""
    store = store_of(ctx)
    [full_id] = resolve_ids(store, [letter_id])
    letter = store.get(full_id)
    if letter is None:
        raise click.ClickException(f"Dead letter {full_id} is gone (retried or discarded)")
    click.echo(json.dumps(letter.to_dict(), indent=2) if as_json else describe(letter))


@dead.command(name="retry")
@click.argument("letter_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Retry every entry matching the filters.")
@filter_options
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.pass_context
def retry(
    ctx: click.Context,
    /,
    letter_ids: tuple[str, ...],
    everything: bool,
    batch_size: int,
    **filters: Any,
) -> None:
    """Enqueue jobs again (same job_id, executions reset); each leaves the store once published.

    Example: celery -A shop jobs dead retry --all --class GuestsCleanupJob
    """
    store = store_of(ctx)
    ids = _selected(store, letter_ids, everything, filters)
    with progress_bar(len(ids), "Retrying") as progress:
        result = store.retry_many(ids, batch_size=batch_size, progress=progress)
    for letter_id, task_id in result.retried.items():
        click.echo(f"Retried {letter_id} as task {task_id}")
    for letter_id, why in result.failed.items():
        click.echo(f"Not retried {letter_id}: {why}", err=True)
    click.echo(f"Retried {len(result.retried)} of {len(ids)} dead letters.")
    if result.failed:
        ctx.exit(1)


@dead.command(name="discard")
@click.argument("letter_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Discard every entry matching the filters.")
@filter_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation with --all.")
@click.pass_context
def discard(
    ctx: click.Context, /, letter_ids: tuple[str, ...], everything: bool, yes: bool, **filters: Any
) -> None:
    """Remove dead letters for good (they are not run).

    Example: celery -A shop jobs dead discard --all --reason malformed_message --yes
    """
    store = store_of(ctx)
    ids = _selected(store, letter_ids, everything, filters)
    if everything and ids and not yes:
        click.confirm(f"Discard {len(ids)} dead letters?", abort=True)
    with progress_bar(len(ids), "Discarding") as progress:
        removed = store.discard_many(ids, progress=progress)
    click.echo(f"Discarded {removed} dead letter{'s' if removed != 1 else ''}.")


@dead.command(name="purge")
@when_option("--older-than", help="Remove entries that failed before this (7d, 12h, ISO time).")
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def purge(
    ctx: click.Context, older_than: datetime | timedelta | None, everything: bool, yes: bool
) -> None:
    """Remove old dead letters in batches (retention also trims on every insert).

    Example: celery -A shop jobs dead purge --older-than 30d --yes
    """
    if (older_than is None) == (not everything):
        raise click.UsageError("Give exactly one of --older-than or --all")
    store = store_of(ctx)
    if not yes:
        what = "every dead letter" if everything else f"dead letters older than {older_than}"
        click.confirm(f"Remove {what}?", abort=True)
    with progress_bar(store.count(), "Purging") as progress:
        removed = store.purge(older_than, progress=progress)
    click.echo(f"Purged {removed} dead letter{'s' if removed != 1 else ''}.")


def _selected(
    store: Any, letter_ids: tuple[str, ...], everything: bool, filters: dict[str, Any]
) -> list[str]:
    if everything == bool(letter_ids):
        raise click.UsageError("Give dead-letter ids, or --all (with optional filters)")
    if not everything and any(value is not None for value in filters.values()):
        raise click.UsageError("Filters apply with --all only")
    if everything:
        return list(store.ids(**filters))
    return resolve_ids(store, list(letter_ids))
