"""``celery -A app jobs stats``: queue depths, scheduled and dead counts, as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

import click

from ..amqp_queues import UNKNOWN

SEP = "\x06\x16"
"""kombu's Redis separator: priority bucket ``n`` of queue ``q`` is the list ``q\\x06\\x16n``."""


@click.command(name="stats")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as a JSON object.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Per-queue depth, scheduled count and dead count by class.

    Example: celery -A shop jobs stats --json
    """
    from . import app_from

    report = collect_stats(app_from(ctx))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from ..dead_letters.formatting import table

    rows = [(name, _shown(depth)) for name, depth in sorted(report["queues"].items())]
    click.echo(table(["QUEUE", "DEPTH"], rows, right={1}))
    click.echo("")
    click.echo(f"Unacknowledged: {_shown(report['unacked'])}")
    click.echo(f"Scheduled:      {_shown(report['scheduled'], report['off'].get('scheduled'))}")
    dead = report["dead"]
    click.echo(f"Dead letters:   {_shown(dead['total'], report['off'].get('dead', 'unavailable'))}")
    if dead["by_class"]:
        click.echo("")
        click.echo(table(["CLASS", "DEAD"], list(dead["by_class"].items()), right={1}))


def collect_stats(app: Any) -> dict[str, Any]:
    """The numbers ``jobs stats`` prints (None where the backend cannot say).

    ``off`` names the parts that are off (``scheduled``, ``dead``) with the setting that turns
    each on. On RabbitMQ queue depths are the messages ready in each queue.

    Example:
        >>> collect_stats(app)["queues"]                       # doctest: +SKIP
        {'default': 3, 'low_priority': 0}
    """
    from ..amqp_queues import queue_depths
    from ..broker_queues import (
        broker_url,
        bucket_depths,
        configured_queues,
        is_redis_url,
        key_prefix,
        queue_names,
        redis_client,
    )
    from ..dead_letters.binding import is_set_up, settings_for, store_for

    settings = settings_for(app)
    broker = broker_url(app) or ""
    report: dict[str, Any] = {"queues": {}, "unacked": None, "scheduled": None}
    if is_redis_url(broker):
        prefix = key_prefix(app)
        with redis_client(app, broker) as client:
            names = queue_names(app, client, prefix)
            depths = bucket_depths(client, prefix, names)
            report["queues"] = {name: sum(buckets) for name, buckets in depths.items()}
            report["unacked"] = int(client.hlen(prefix + "unacked"))
    else:
        report["queues"] = queue_depths(app, configured_queues(app))
    report["off"] = off = {}
    scheduler_url = settings.scheduler_url or broker
    if is_redis_url(scheduler_url):
        with redis_client(app, scheduler_url) as client:
            report["scheduled"] = int(client.zcard(settings.key("scheduled")))
    else:
        off["scheduled"] = "off: set activejob_scheduler_url (delayed jobs use Celery ETA)"
    if not is_set_up(app):
        off["dead"] = "off: set activejob_dead_letters_url"
    try:
        by_class = store_for(app).count_by_class()
        report["dead"] = {"total": sum(by_class.values()), "by_class": by_class}
    except Exception:  # dead letters are off (no Redis): the rest of the report still stands
        report["dead"] = {"total": None, "by_class": {}}
    return report


def _shown(value: int | None, off: str | None = None) -> str:
    if value is not None:
        return str(value)
    return off or UNKNOWN
