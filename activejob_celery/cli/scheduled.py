"""``celery -A app jobs scheduled ...`` and ``jobs scheduler`` (the scheduled set)."""

from __future__ import annotations

import click


@click.group(name="scheduled")
def scheduled() -> None:
    """List, show, run now, delete and count jobs waiting in the scheduled set."""


@click.command(name="scheduler")
def scheduler() -> None:
    """Run the scheduled-set poller on its own (workers also run it, unless disabled)."""
