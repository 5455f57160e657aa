"""The worker app of the hostile-input test (``celery -A tests.reliability.apps.hostile_app``).

The worker watches itself with an audit hook (:func:`sys.addaudithook`, installed once the
worker is ready: its start-up banner runs ``uname``, and importing this module elsewhere
changes nothing): it notes every import of a
module named in ``$AJ_HOSTILE_WATCHED`` and every process a job could start (``os.system``,
``subprocess.Popen``, ``os.exec*``, ``os.posix_spawn``, ``os.spawn*``). ``ReportJob`` writes
what it saw, and which watched modules are in ``sys.modules``, to Redis.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

import activejob_celery
from activejob_celery import ApplicationJob

REDIS_URL = os.environ.get("AJ_HOSTILE_REDIS_URL", "redis://127.0.0.1:6379/0")
WATCHED = tuple(name for name in os.environ.get("AJ_HOSTILE_WATCHED", "").split(",") if name)
PROCESS_EVENTS = ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn")

app = Celery("hostile_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
)
activejob_celery.init_app(app)

seen: list[list[str]] = []


def is_watched(name: str) -> bool:
    """Whether ``name`` is a watched module or inside one."""
    return any(name == watched or name.startswith(watched + ".") for watched in WATCHED)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "import" and args and is_watched(str(args[0])):
        seen.append(["import", str(args[0])])
    elif event in PROCESS_EVENTS:
        seen.append([event, repr(args)[:300]])


@worker_ready.connect
def _watch(**_: Any) -> None:
    sys.addaudithook(_audit)


def _client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


class GoodJob(ApplicationJob):
    """Records its label in the Redis list ``hostile:ran``."""

    job_name = "hostile.GoodJob"

    def perform(self, label: str, *padding: Any) -> None:
        with _client() as client:
            client.rpush("hostile:ran", label)


class ReportJob(ApplicationJob):
    """Writes what the audit hook saw and the watched modules this process has loaded."""

    job_name = "hostile.ReportJob"

    def perform(self, key: str) -> None:
        report = {
            "loaded": sorted(name for name in sys.modules if is_watched(name)),
            "events": seen,
            "pid": os.getpid(),
        }
        with _client() as client:
            client.set(key, json.dumps(report))
