"""Hostile input at a real worker: each named case is one dead letter, and nothing runs or loads.

The table is the issue's list, case by case: malformed JSON, a wrong type for every payload
key, unknown job classes, class names pointing at module attributes that are not jobs (``os``,
``subprocess``, ``builtins``, and modules the worker never imported: ``antigravity``, ``this``,
a canary module that writes a file when imported), payloads of several MB, ``_aj_serialized``
tags naming serializers nobody registered and ``_aj_globalid`` references without a locator.
``tests/integration/test_worker_fuzz.py`` throws random damage at the same path; this file
names each case and checks its reason.

Arguments are armed: were a named callable ever called with them, a file would appear in the
canary directory. The worker (solo pool: one process to inspect) reports what its audit hook
saw and which watched modules it has loaded.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from activejob_celery.dead_letters import DeadLetterStore
from tests.integration.dead_letters_support import RawQueue, job_payload, task_body
from tests.support.broker_lists import queue_length
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.apps.hostile_app"
GOOD = "hostile.GoodJob"
CANARY_MODULE = "tests.reliability.apps.import_canary"
WATCHED = ("antigravity", "this", "webbrowser", "shop", "evil", CANARY_MODULE)
MB = 1024 * 1024

pytestmark = pytest.mark.reliability


class Armed:
    """Unpickling this runs ``os.system(command)``: a pickle-accepting consumer would obey."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


@dataclass
class Case:
    """One hostile message: how to send it, and the dead-letter reason it must end with."""

    name: str
    send: Callable[[Sender], None]
    reason: str | None
    """``None``: not a dead letter, the job runs (a large but valid payload)."""
    job_class: str | None = None
    """The ``job_class`` the dead letter must name, when the case names one."""


class Sender:
    """Puts messages on the worker's queue: through Celery, or raw onto the Redis list."""

    def __init__(self, app: Celery, raw: RawQueue, canary_dir: Path) -> None:
        self.app = app
        self.raw = raw
        self.canary_dir = canary_dir

    def touch(self, name: str) -> str:
        """A shell command that leaves ``name`` in the canary directory."""
        return f"touch {self.canary_dir / name}"

    def task(self, task_name: str, *args: Any) -> None:
        """A well-formed Celery message of ``task_name`` with these arguments."""
        self.app.send_task(task_name, args=args, queue="default")

    def payload(self, task_name: str = GOOD, **changes: Any) -> None:
        """A job payload (GoodJob's unless changed) as the single argument of ``task_name``."""
        payload = job_payload(GOOD, "hostile")
        payload.update(changes)
        self.task(task_name, payload)

    def body(
        self, body: bytes, *, task: str = GOOD, content_type: str = "application/json"
    ) -> None:
        """A message envelope around a raw body."""
        self.raw.push(self.raw.envelope(body, task=task, content_type=content_type))

    def entry(self, item: bytes) -> None:
        """A queue entry that is not a message envelope at all."""
        self.raw.push(item)


def _named_attribute_cases() -> list[Case]:
    """Class names that point at callables or at modules the worker never loaded."""
    targets = {
        "os.system": lambda s: [s.touch("os_system")],
        "subprocess.Popen": lambda s: [["touch", str(s.canary_dir / "popen")]],
        "builtins.eval": lambda s: [f"__import__('os').system({s.touch('eval')!r})"],
        "builtins.exec": lambda s: [f"import os; os.system({s.touch('exec')!r})"],
        "importlib.import_module": lambda s: [CANARY_MODULE],
        "antigravity.geohash": lambda s: [37.4, -122.1, "2005-05-26-10458.68"],
        "this.s": lambda s: [],
        f"{CANARY_MODULE}.CanaryJob": lambda s: ["payload"],
        "canary.CanaryJob": lambda s: ["payload"],
    }
    cases = []
    for name, arguments in targets.items():
        cases.append(
            Case(
                f"job_class {name}",
                lambda s, name=name, arguments=arguments: s.payload(
                    job_class=name, arguments=arguments(s)
                ),
                "unknown_job_class",
                job_class=name,
            )
        )
        cases.append(
            Case(
                f"task header {name}",
                lambda s, name=name, arguments=arguments: s.payload(
                    name, job_class=name, arguments=arguments(s)
                ),
                "unknown_job_class",
                job_class=name,
            )
        )
    return cases


WRONG_TYPES = {
    "job_class": 123,
    "job_id": None,
    "provider_job_id": ["x"],
    "queue_name": {"name": "default"},
    "priority": "high",
    "arguments": {"0": "hostile"},
    "executions": "many",
    "exception_executions": [["[TimeoutError]", 1]],
    "locale": 7,
    "timezone": False,
    "enqueued_at": "yesterday",
    "scheduled_at": 1700000000,
}

ARGUMENT_TAGS = {
    "_aj_serialized pickle": {"_aj_serialized": "pickle", "value": "gASVAAAAAAAAAAAu"},
    "_aj_serialized os.system": {"_aj_serialized": "os.system", "value": "touch /nonexistent"},
    "_aj_serialized not a string": {"_aj_serialized": ["enum"], "value": 1},
    "_aj_serialized enum os:system": {"_aj_serialized": "enum", "class": "os:system", "name": "x"},
    "_aj_serialized enum in antigravity": {
        "_aj_serialized": "enum", "class": "antigravity:Color", "name": "RED",
    },
    "_aj_serialized enum in canary module": {
        "_aj_serialized": "enum", "class": f"{CANARY_MODULE}:Color", "name": "RED",
    },
    "_aj_globalid without locator": {"_aj_globalid": "gid://shop/Guest/42"},
    "_aj_globalid naming os.system": {"_aj_globalid": "gid://os/system/touch%20x"},
    "_aj_globalid not a gid": {"_aj_globalid": "python:os.system"},
    "_aj_globalid with extra keys": {"_aj_globalid": "gid://shop/Guest/1", "eval": "1+1"},
    "_aj_kwargs not a list": {"label": "x", "_aj_kwargs": "label"},
}  # fmt: skip


def cases() -> list[Case]:
    table = [
        Case("malformed JSON body", lambda s: s.body(b'{"not": json'), "malformed_message"),
        Case("truncated JSON body", lambda s: s.body(task_body(job_payload(GOOD))[:40]),
             "malformed_message"),
        Case("malformed JSON queue entry", lambda s: s.entry(b'{"body": "eyJ9", "headers": {'),
             "malformed_message"),
        Case("body is JSON but not [args, kwargs, embed]", lambda s: s.body(b'"just a string"'),
             "malformed_message"),
        Case("payload is a string", lambda s: s.task(GOOD, "not a payload"), "malformed_message"),
        Case("no payload argument", lambda s: s.task(GOOD), "malformed_message"),
        Case("two payload arguments", lambda s: s.task(GOOD, job_payload(GOOD), 2),
             "malformed_message"),
        Case("pickle body that runs os.system",
             lambda s: s.body(pickle.dumps(Armed(s.touch("pickle"))),
                              content_type="application/x-python-serialize"),
             "malformed_message"),
        Case("yaml body that runs os.system",
             lambda s: s.body(f'!!python/object/apply:os.system ["{s.touch("yaml")}"]'.encode(),
                              content_type="application/x-yaml"),
             "malformed_message"),
    ]  # fmt: skip
    for key, value in WRONG_TYPES.items():
        table.append(
            Case(
                f"wrong type: {key}={value!r}",
                lambda s, key=key, value=value: s.payload(**{key: value}),
                "malformed_message",
            )
        )
    for key in ("job_class", "job_id", "queue_name", "arguments"):
        table.append(
            Case(f"missing key: {key}", lambda s, key=key: s.task(GOOD, _without(key)),
                 "malformed_message")
        )  # fmt: skip
    table += [
        Case("unknown job class", lambda s: s.payload(job_class="shop.jobs.RemovedJob"),
             "unknown_job_class", job_class="shop.jobs.RemovedJob"),
        Case("unknown task name", lambda s: s.payload("shop.jobs.RemovedJob",
                                                      job_class="shop.jobs.RemovedJob"),
             "unknown_job_class", job_class="shop.jobs.RemovedJob"),
    ]  # fmt: skip
    table += _named_attribute_cases()
    for name, argument in ARGUMENT_TAGS.items():
        table.append(
            Case(name, lambda s, argument=argument: s.payload(arguments=[argument]),
                 "deserialization", job_class=GOOD)
        )  # fmt: skip
    table += [
        Case("6 MB payload with a wrong-typed job_id",
             lambda s: s.payload(job_id=12345, arguments=["x", "y" * (6 * MB)]),
             "malformed_message"),
        Case("6 MB payload of an unknown task",
             lambda s: s.payload("evil.BigJob", job_class="evil.BigJob",
                                 arguments=["x", "y" * (6 * MB)]),
             "unknown_job_class", job_class="evil.BigJob"),
        Case("6 MB of non-JSON bytes as a queue entry", lambda s: s.entry(os.urandom(6 * MB)),
             "malformed_message"),
        Case("6 MB body of a job task that is not JSON",
             lambda s: s.body(b"\xff" + os.urandom(6 * MB)), "malformed_message"),
        Case("6 MB argument with a deserialization error",
             lambda s: s.payload(arguments=["x", "y" * (6 * MB), {"_aj_serialized": "nope"}]),
             "deserialization", job_class=GOOD),
        Case("6 MB valid payload (runs: no size limit)",
             lambda s: s.payload(arguments=["large", "y" * (6 * MB)]), None),
    ]  # fmt: skip
    return table


def _without(key: str) -> dict[str, Any]:
    payload = job_payload(GOOD, "hostile")
    del payload[key]
    return payload


@pytest.fixture
def aj_hostile(tmp_path):
    canary_dir = tmp_path / "canaries"
    canary_dir.mkdir()
    with RedisServer.start_private() as server:
        url = server.url(0)
        app = Celery("hostile_client", broker=url, set_as_current=False)
        app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
        client = server.client(0)
        env = {
            "AJ_HOSTILE_REDIS_URL": url,
            "AJ_HOSTILE_WATCHED": ",".join(WATCHED),
            "AJ_IMPORT_CANARY": str(canary_dir / "imported"),
        }
        worker = run_worker_subprocess(APP, cwd=ROOT, env=env, queues=["default"], pool="solo")
        with worker:
            worker.wait_ready(timeout=30)
            yield Sender(app, RawQueue(app, client), canary_dir), client, url, worker
        client.close()
        app.close()


def _settle(sender: Sender, client: Any) -> None:
    """Send a good job behind the case and wait for it (solo worker, prefetch 1: FIFO)."""
    label = f"marker-{uuid.uuid4()}"
    sender.payload(arguments=[label])
    wait_for(lambda: label.encode() in client.lrange("hostile:ran", 0, -1), timeout=60,
             message=f"the marker job after a case ({label})")  # fmt: skip


def test_every_hostile_case_is_one_dead_letter_and_nothing_is_imported_or_run(aj_hostile):
    sender, client, url, worker = aj_hostile
    store = DeadLetterStore.from_url(url)
    problems: list[str] = []
    rows: list[str] = []
    for case in cases():
        before = set(store.ids())
        ran_before = client.llen("hostile:ran")
        case.send(sender)
        _settle(sender, client)
        new = [store.get(letter_id) for letter_id in set(store.ids()) - before]
        ran = client.llen("hostile:ran") - ran_before - 1  # the marker ran too
        if case.reason is None:
            ok = not new and ran == 1
            outcome = f"ran {ran}x, {len(new)} dead letters"
        else:
            reasons = [letter.reason for letter in new if letter is not None]
            ok = reasons == [case.reason] and ran == 0
            if ok and case.job_class is not None:
                ok = new[0] is not None and new[0].job_class == case.job_class
            outcome = f"{reasons} {new[0].error_class if new and new[0] else ''}"
        rows.append(f"{'ok ' if ok else 'BAD'} {case.name}: {outcome}")
        if not ok:
            problems.append(f"{case.name}: expected {case.reason}, got {outcome} (ran {ran}x)")
    print("\n".join(rows))

    client.delete("hostile:report")
    sender.task("hostile.ReportJob", job_payload("hostile.ReportJob", "hostile:report"))
    raw_report = wait_for(lambda: client.get("hostile:report"), timeout=30)
    report = json.loads(raw_report)

    assert not problems, "\n".join(problems)
    assert report["pid"] == worker.pid, "the worker was replaced: it crashed somewhere"
    assert worker.returncode is None
    assert report["loaded"] == [], f"modules named by messages were imported: {report}"
    assert report["events"] == [], f"the worker imported or started something: {report}"
    assert sorted(path.name for path in sender.canary_dir.iterdir()) == []
    assert queue_length(client, "default") == 0
    assert client.hlen("unacked") == 0
    log = worker.log_text()
    assert "Unrecoverable error" not in log
    assert "Beautiful is better than ugly" not in log  # what `import this` prints
    store.close()
