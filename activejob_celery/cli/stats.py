"""``celery -A app jobs stats``: queue depths, scheduled and dead counts, as a table or JSON.

``--by-class`` adds each job class's counts and p50/p95 durations over the last hour and day.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..amqp_queues import UNKNOWN, queue_depths
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
from ..dead_letters.formatting import table
from ..web import stats_view
from ..worker.job_stats import COUNTERS
from .context import app_from

SEP = "\x06\x16"
"""kombu's Redis separator: priority bucket ``n`` of queue ``q`` is the list ``q\\x06\\x16n``."""


@click.command(name="stats")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as a JSON object.")
@click.option(
    "--by-class",
    is_flag=True,
    help="Add per job class: enqueued, performed, retried, discarded, dead, p50/p95 durations.",
)
@click.pass_context
def stats(ctx: click.Context, as_json: bool, by_class: bool) -> None:
    """Per-queue depth, scheduled count and dead count by class.

    Example: celery -A shop jobs stats --by-class --json
    """
    app = app_from(ctx)
    report = collect_stats(app)
    classes = stats_view.by_class(app) if by_class else None
    if classes is not None:
        report["by_class"] = stats_view.as_json(classes)
    elif by_class:
        report["by_class"] = None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return

    rows = [(name, _shown(depth)) for name, depth in sorted(report["queues"].items())]
    click.echo(table(["QUEUE", "DEPTH"], rows, right={1}))
    click.echo("")
    click.echo(f"Unacknowledged: {_shown(report['unacked'])}")
    click.echo(f"Scheduled:      {_shown(report['scheduled'], report['off'].get('scheduled'))}")
    click.echo(f"Blocked:        {_shown(report['blocked'], report['off'].get('scheduled'))}")
    dead = report["dead"]
    click.echo(f"Dead letters:   {_shown(dead['total'], report['off'].get('dead', 'unavailable'))}")
    if dead["by_class"]:
        click.echo("")
        click.echo(table(["CLASS", "DEAD"], list(dead["by_class"].items()), right={1}))
    if by_class:
        click.echo("")
        click.echo(class_table(classes))


def class_table(rows: list[stats_view.ClassStats] | None) -> str:
    """The ``--by-class`` table: one line per class and window (last hour, last day).

    Example:
        >>> from activejob_celery.web.stats_view import ClassStats, Window
        >>> print(class_table([ClassStats("a.Job", Window(), Window(dead=1))]))
        CLASS  WINDOW  ENQUEUED  PERFORMED  RETRIED  DISCARDED  DEAD  P50  P95
        a.Job  hour           0          0        0          0     0    -    -
        a.Job  day            0          0        0          0     1    -    -
    """
    if rows is None:
        return "Statistics by class: unavailable (they are kept in a Redis: no Redis here)"
    if not rows:
        return "Statistics by class: no job was counted in the last day."
    headers = ["CLASS", "WINDOW", *(name.upper() for name in COUNTERS), "P50", "P95"]
    lines = []
    for row in rows:
        for name, window in (("hour", row.hour), ("day", row.day)):
            counts = [getattr(window, counter) for counter in COUNTERS]
            p50, p95 = (str(value) if value else "-" for value in (window.p50, window.p95))
            lines.append([row.job_class, name, *counts, p50, p95])
    return table(headers, lines, right=set(range(2, len(headers))))


def collect_stats(app: Any) -> dict[str, Any]:
    """The numbers ``jobs stats`` prints (None where the backend cannot say).

    ``off`` names the parts that are off (``scheduled``, ``dead``) with the setting that turns
    each on. On RabbitMQ queue depths are the messages ready in each queue.

    Example:
        >>> collect_stats(app)["queues"]                       # doctest: +SKIP
        {'default': 3, 'low_priority': 0}
    """
    settings = settings_for(app)
    broker = broker_url(app) or ""
    report: dict[str, Any] = {"queues": {}, "unacked": None, "scheduled": None, "blocked": None}
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
            report["blocked"] = int(client.hlen(settings.key("concurrency", "payloads")))
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
