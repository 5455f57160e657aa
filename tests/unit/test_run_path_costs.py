"""The per-run work a worker repeats for every job: looked up once, and behaving as before."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from celery.utils.dispatch import Signal

from activejob_celery import ApplicationJob, init_app, internals
from activejob_celery.dead_letters import binding
from activejob_celery.interruptions import ledger_for
from activejob_celery.queue_keys import pop_keys
from activejob_celery.signals import Instrumented, instrument


class CostJob(ApplicationJob):
    def perform(self) -> None:
        pass


class _Channel:
    def __init__(self) -> None:
        self.priority_steps = [0, 3, 9]

    def _q_for_pri(self, queue: str, pri: int) -> str:  # as kombu names a priority list
        return f"{queue}\x06\x16{pri}" if pri else queue


def test_pop_keys_are_named_once_per_channel_and_queue_list(monkeypatch):
    calls: list[tuple[str, int]] = []
    named = internals.priority_list

    def counting(channel: Any, queue: str, pri: int) -> str:
        calls.append((queue, pri))
        return named(channel, queue, pri)

    monkeypatch.setattr(internals, "priority_list", counting)
    channel = _Channel()
    first = pop_keys(channel, ["a", "b"])
    assert first == ["a", "b", "a\x06\x163", "b\x06\x163", "a\x06\x169", "b\x06\x169"]
    first.append("mine")  # the caller's own list
    assert pop_keys(channel, ["a", "b"]) == first[:-1]
    assert len(calls) == 6  # named once, not once per fetch
    assert pop_keys(channel, ["b", "a"])[:2] == ["b", "a"]  # another order: its own names
    channel._aj_queue_order = object()  # a worker queue order: queue by queue
    assert pop_keys(channel, ["a", "b"])[:3] == ["a", "a\x06\x163", "a\x06\x169"]
    assert pop_keys(_Channel(), ["a"]) == ["a", "a\x06\x163", "a\x06\x169"]  # per channel


def test_instrument_is_a_plain_context_manager_with_the_same_payload():
    signal = Signal(name="test.cost")
    job = CostJob()
    manager = instrument(signal, job, "adapter", extra=1)
    assert isinstance(manager, Instrumented)  # not a generator's context manager
    sent: list[dict[str, Any]] = []

    def receiver(sender: Any, **payload: Any) -> None:
        sent.append({"sender": sender, **payload})

    with manager as event:
        signal.connect(receiver, weak=False)  # connected while the block runs: still called
        event.payload["aborted"] = True
    [ok] = sent
    assert ok["sender"] is CostJob and ok["job"] is job and ok["adapter"] == "adapter"
    assert (ok["extra"], ok["aborted"], ok["exception"]) == (1, True, None)
    assert ok["duration"] >= 0.0
    error = ValueError("no")
    with pytest.raises(ValueError), instrument(signal, job, None):
        raise error
    assert sent[1]["exception"] is error and sent[1]["aborted"] is False
    signal.disconnect(receiver)
    with instrument(signal, job, None):  # nobody listens: nothing is sent, nothing fails
        pass
    assert len(sent) == 2


def test_the_run_marks_of_a_set_up_app_are_found_without_building_the_store(monkeypatch):
    app = Celery("aj_cost", broker="memory://", set_as_current=False)
    app.conf.activejob_dead_letters_url = "memory://run-path-costs"
    init_app(app)
    ledger = ledger_for(app)
    assert ledger is not None

    def no_build(app: Any) -> Any:
        raise AssertionError("the store is looked up through the runtime's part")

    monkeypatch.setattr("activejob_celery.interruptions.store_for", no_build)
    assert ledger_for(app) is ledger
    assert binding.built_store(app) is binding.store_for(app)
    assert binding.built_store(Celery("aj_cost_not_set_up", set_as_current=False)) is None
    app.close()


def test_the_perform_counters_look_their_prefix_up_once_and_tally_as_before(monkeypatch):
    from activejob_celery.worker import job_stats, metrics

    app = object()
    task = type("Task", (), {"app": app})()
    parts = {metrics._PART: "aj:metrics", job_stats._PART: "aj:stats"}
    looked_up: list[str] = []

    def part_of(of: Any, name: str) -> Any:
        looked_up.append(name)
        return parts.get(name) if of is app else None

    tallied: list[tuple[Any, ...]] = []
    monkeypatch.setattr(metrics, "tally", lambda *args, **kw: tallied.append(args))
    for module in (metrics, job_stats):
        monkeypatch.setattr(module, "running_task", lambda: task)
        monkeypatch.setattr(module, "part_of", part_of)
    monkeypatch.setattr(metrics.time, "time", lambda: 600.0)
    monkeypatch.setattr(job_stats.time, "time", lambda: 600.0)
    metrics.record_perform(CostJob, exception=None)
    metrics.record_perform(CostJob, exception=ValueError())
    job = CostJob()
    job_stats._on_perform(CostJob, job=job, duration=300.0, exception=None)
    job_stats._on_perform(CostJob, job=job, duration=300.0, exception=ValueError())
    assert looked_up == [metrics._PART] * 2 + [job_stats._PART] * 2  # once per receiver
    name = job.job_name
    keys = (("aj:stats:m:10", job_stats.MINUTE_TTL), ("aj:stats:q:0", job_stats.QUARTER_TTL))
    assert tallied == [
        (app, (("aj:metrics:10", metrics.RETENTION),), (metrics.FIELDS[0],)),
        (app, (("aj:metrics:10", metrics.RETENTION),), (metrics.FIELDS[1],)),
        (app, keys, [f"{name}|performed", f"{name}|d{job_stats.bucket_of(0.3)}"]),
        (app, keys, [f"{name}|d{job_stats.bucket_of(0.3)}"]),
    ]
