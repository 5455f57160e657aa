"""``celery -A app jobs recurring ...``: recurring jobs on RedBeat."""

from __future__ import annotations

import click


@click.group(name="recurring")
def recurring() -> None:
    """List recurring jobs with their next run, sync them to RedBeat, run one now."""
