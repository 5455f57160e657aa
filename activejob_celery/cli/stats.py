"""``celery -A app jobs stats``: queue depths, scheduled and dead counts."""

from __future__ import annotations

import click


@click.command(name="stats")
def stats() -> None:
    """Per-queue depth, scheduled count and dead count by class."""
