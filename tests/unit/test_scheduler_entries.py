"""Scheduled-set entries without Redis: member and value formats, the decoded view, CLI helpers."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from activejob_celery.cli.scheduled import _relative, _table
from activejob_celery.scheduler.entries import (
    ScheduledJob,
    decode_direct,
    decode_value,
    encode_direct,
    encode_envelope,
    member_for,
    split_member,
)

PAYLOAD = {
    "job_class": "shop.jobs.GuestsCleanupJob",
    "job_id": "job-1",
    "provider_job_id": "task-1",
    "queue_name": "low",
    "priority": 5,
    "arguments": [42, {"notify": True, "_aj_kwargs": ["notify"]}],
    "executions": 2,
    "exception_executions": {"[TimeoutError]": 1},
    "locale": "en",
    "timezone": "UTC",
    "enqueued_at": "2026-11-24T14:00:00.000000Z",
    "scheduled_at": "2026-11-24T14:05:00.000000Z",
}


def _kombu_message(queue: str, priority: int, exchange: str = "") -> bytes:
    body = base64.b64encode(json.dumps([[PAYLOAD], {}, {}]).encode()).decode()
    message = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": "shop.jobs.GuestsCleanupJob", "id": "task-1", "eta": None},
        "properties": {
            "priority": priority,
            "body_encoding": "base64",
            "delivery_info": {"exchange": exchange, "routing_key": queue},
            "delivery_tag": "tag",
        },
    }
    return json.dumps(message).encode()


def test_members_keep_the_job_id_and_the_task_id_apart():
    assert member_for("job-1", "task-1") == "job-1/task-1"
    assert split_member("job-1/task-1") == ("job-1", "task-1")
    assert split_member(member_for("a/b/c", "task-9")) == ("a/b/c", "task-9")


def test_direct_values_round_trip_any_bytes():
    pushes = [(b"low\x06\x165", _kombu_message("low", 5)), (b"caf\xc3\xa9:x", b"1:2:3")]
    value = encode_direct(pushes)
    assert value.startswith(b"D")
    assert decode_direct(value) == pushes


@pytest.mark.parametrize(
    "value",
    [b"D", b"D5:ab", b"Dx:abc1:a", b"D3:abc", b"D3:abc9:short", b"E{}"],
)
def test_malformed_direct_values_are_rejected(value):
    with pytest.raises(ValueError):
        decode_direct(value)


def test_an_envelope_decodes_to_what_celery_needs():
    value = encode_envelope("shop.jobs.GuestsCleanupJob", "task-1", "low", 5, PAYLOAD)
    assert value.startswith(b"E")
    envelope = decode_value(value)
    assert envelope == {
        "task": "shop.jobs.GuestsCleanupJob",
        "id": "task-1",
        "queue": "low",
        "priority": 5,
        "payload": PAYLOAD,
    }


def test_a_direct_value_decodes_to_the_same_envelope_plus_its_route():
    value = encode_direct([(b"low\x06\x165", _kombu_message("low", 5, exchange="jobs"))])
    envelope = decode_value(value)
    assert envelope["task"] == "shop.jobs.GuestsCleanupJob" and envelope["id"] == "task-1"
    assert envelope["payload"] == PAYLOAD and envelope["priority"] == 5
    assert (envelope["exchange"], envelope["routing_key"]) == ("jobs", "low")


@pytest.mark.parametrize("value", [b"E[1, 2]", b'E{"task": "t"}', b"Enot json", b"X"])
def test_unreadable_values_raise_value_error(value):
    with pytest.raises(ValueError):
        decode_value(value)


def test_the_decoded_view_of_an_entry():
    score = datetime(2026, 11, 24, 14, 5, tzinfo=timezone.utc).timestamp()
    value = encode_envelope("shop.jobs.GuestsCleanupJob", "task-1", "low", 5, PAYLOAD)
    job = ScheduledJob.decode("job-1/task-1", value, score)
    assert (job.job_id, job.provider_job_id) == ("job-1", "task-1")
    assert (job.job_class, job.class_name) == ("shop.jobs.GuestsCleanupJob", "GuestsCleanupJob")
    assert (job.queue_name, job.priority, job.executions) == ("low", 5, 2)
    assert job.arguments == PAYLOAD["arguments"]
    assert job.run_at == datetime(2026, 11, 24, 14, 5, tzinfo=timezone.utc)
    assert not job.claimed
    data = job.as_dict()
    assert data["run_at"] == "2026-11-24T14:05:00+00:00"
    assert json.loads(json.dumps(data))["payload"] == PAYLOAD


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-3, "due"),
        (0, "due"),
        (4.25, "4.2s"),
        (75, "1m 15s"),
        (3 * 3600 + 120, "3h 2m"),
        (2 * 86400 + 3600, "2d 1h"),
    ],
)
def test_relative_times_in_the_table(seconds, shown):
    assert _relative(seconds) == shown


def test_the_table_pads_columns_and_trims_trailing_space():
    text = _table(("A", "LONG HEADER"), [("x", ""), ("yyyy", "z")])
    assert text.splitlines() == ["A     LONG HEADER", "x", "yyyy  z"]
