"""``celery -A app jobs stats``: queue depths, scheduled and dead counts, as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

import click

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

    queues = report["queues"]
    click.echo(table(["QUEUE", "DEPTH"], sorted(queues.items()), right={1}))
    click.echo("")
    click.echo(f"Unacknowledged: {_shown(report['unacked'])}")
    click.echo(f"Scheduled:      {_shown(report['scheduled'])}")
    dead = report["dead"]
    click.echo(f"Dead letters:   {_shown(dead['total'])}")
    if dead["by_class"]:
        click.echo("")
        click.echo(table(["CLASS", "DEAD"], list(dead["by_class"].items()), right={1}))


def collect_stats(app: Any) -> dict[str, Any]:
    """The numbers ``jobs stats`` prints (None where the backend cannot say).

    Example:
        >>> collect_stats(app)["queues"]                       # doctest: +SKIP
        {'default': 3, 'low_priority': 0}
    """
    import redis

    from ..dead_letters.binding import settings_for, store_for

    settings = settings_for(app)
    broker = _broker_url(app)
    report: dict[str, Any] = {"queues": {}, "unacked": None, "scheduled": None}
    if broker.split("://", 1)[0].lower() in ("redis", "rediss", "unix"):
        prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "") or ""
        with redis.Redis.from_url(broker, socket_connect_timeout=5.0) as client:
            names = _queue_names(app, client, prefix)
            report["queues"] = _depths(client, prefix, names)
            report["unacked"] = int(client.hlen(prefix + "unacked"))
    else:
        report["queues"] = {name: None for name in _configured_queues(app)}
    scheduler_url = settings.scheduler_url or broker
    if scheduler_url.split("://", 1)[0].lower() in ("redis", "rediss", "unix"):
        with redis.Redis.from_url(scheduler_url, socket_connect_timeout=5.0) as client:
            report["scheduled"] = int(client.zcard(settings.key("scheduled")))
    try:
        by_class = store_for(app).count_by_class()
        report["dead"] = {"total": sum(by_class.values()), "by_class": by_class}
    except Exception:  # dead letters are off (no Redis): the rest of the report still stands
        report["dead"] = {"total": None, "by_class": {}}
    return report


def _broker_url(app: Any) -> str:
    broker: Any = app.conf.broker_url or app.conf.broker_read_url or ""
    if isinstance(broker, list | tuple):
        broker = broker[0] if broker else ""
    return str(broker).split(";", 1)[0].strip()


def _configured_queues(app: Any) -> list[str]:
    from ..app import job_queue_names

    names = job_queue_names()
    names += [name for name in app.amqp.queues if name not in names]
    return names


def _queue_names(app: Any, client: Any, prefix: str) -> list[str]:
    """Configured queues plus every queue a worker has bound (kombu's ``_kombu.binding.*``)."""
    names = _configured_queues(app)
    for key in client.scan_iter(match=prefix + "_kombu.binding.*", count=500):
        exchange = key.decode()[len(prefix) + len("_kombu.binding.") :]
        if exchange.endswith("pidbox") or exchange.startswith("celeryev"):
            continue  # control and event queues, not job queues
        for member in client.smembers(key):
            queue = member.decode().split(SEP)[-1]
            if queue and queue not in names:
                names.append(queue)
    return names


def _depths(client: Any, prefix: str, names: list[str]) -> dict[str, int]:
    """Messages waiting per queue, over the base list and every priority bucket (1-9)."""
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(prefix + name)
            for step in range(1, 10):
                pipe.llen(f"{prefix}{name}{SEP}{step}")
        sizes = pipe.execute()
    per_queue = 10
    return {
        name: int(sum(sizes[index * per_queue : (index + 1) * per_queue]))
        for index, name in enumerate(names)
    }


def _shown(value: int | None) -> str:
    return "n/a" if value is None else str(value)
