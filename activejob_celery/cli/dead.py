"""``celery -A app jobs dead ...``: the dead-letter store."""

from __future__ import annotations

import click


@click.group(name="dead")
def dead() -> None:
    """List, show, retry, discard and purge jobs that failed for good."""
