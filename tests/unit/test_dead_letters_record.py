"""Dead-letter records, filters, raw bodies and message checks, without a broker."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from kombu.exceptions import DecodeError

from activejob_celery import ApplicationJob, ConfigurationError
from activejob_celery.dead_letters import DeadLetter
from activejob_celery.dead_letters.filters import Filters, cutoff_time, parse_when
from activejob_celery.dead_letters.formatting import describe, letters_table, table
from activejob_celery.dead_letters.messages import body_problem, letter_for_message
from activejob_celery.dead_letters.record import (
    FIELDS,
    MAX_ERROR_MESSAGE,
    MAX_TRACEBACK,
    error_class_name,
    error_message,
    format_traceback,
    raw_payload,
)
from activejob_celery.dead_letters.recorder import letter_for_failure
from activejob_celery.dead_letters.republish import retry_payload

WHEN = datetime(2026, 11, 24, 14, 6, 49, 123456, tzinfo=timezone.utc)


def payload(**changes: Any) -> dict[str, Any]:
    base = {
        "job_class": "shop.jobs.GuestsCleanupJob",
        "job_id": "job-1",
        "provider_job_id": "task-1",
        "queue_name": "low_priority",
        "priority": 5,
        "arguments": [42],
        "executions": 3,
        "exception_executions": {"[TimeoutError]": 2},
        "locale": "en",
        "timezone": "UTC",
        "enqueued_at": "2026-11-24T14:00:00.000000Z",
        "scheduled_at": None,
    }
    return {**base, **changes}


def letter(**changes: Any) -> DeadLetter:
    values = {
        "id": "7c0e9d6b-0000-4000-8000-000000000000",
        "job_id": "job-1",
        "job_class": "shop.jobs.GuestsCleanupJob",
        "queue_name": "low_priority",
        "payload": payload(),
        "error_class": "TimeoutError",
        "error_message": "gateway timed out",
        "traceback": "Traceback (most recent call last):\nTimeoutError: gateway timed out\n",
        "reason": "exhausted",
        "attempts": 3,
        "failed_at": WHEN,
    }
    return DeadLetter(**{**values, **changes})


class Message:
    """Just enough of a kombu message for the checks."""

    def __init__(self, decoded: Any = None, *, error: Exception | None = None, **attrs: Any):
        self._decoded, self._error = decoded, error
        self.headers = attrs.get("headers", {"task": "shop.jobs.X", "id": "task-9"})
        self.properties = {"delivery_tag": "tag-1"}
        self.delivery_info = {"routing_key": "default"}
        self.body = attrs.get("body", b"")
        self.content_type, self.content_encoding = "application/json", "utf-8"

    @property
    def payload(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._decoded


def test_a_record_round_trips_through_json_in_field_order():
    original = letter()
    data = json.loads(json.dumps(original.to_dict()))
    assert list(data) == list(FIELDS)
    assert data["failed_at"] == "2026-11-24T14:06:49.123456Z"
    assert DeadLetter.from_dict(data) == original
    assert "payload" not in original.summary() and "traceback" not in original.summary()
    assert original.retryable
    assert not letter(reason="malformed_message").retryable
    assert not letter(payload={"raw": "x"}, reason="unknown_job_class").retryable


def test_raw_bodies_are_text_or_base64_and_truncated():
    assert raw_payload(b"not json", 100) == {
        "raw": "not json", "raw_encoding": "utf-8", "raw_size": 8, "truncated": False,
    }  # fmt: skip
    cut = raw_payload("é" * 10, 5)  # 20 bytes; the cut falls inside a character
    assert (cut["raw"], cut["raw_encoding"], cut["raw_size"], cut["truncated"]) == (
        "éé",
        "utf-8",
        20,
        True,
    )
    binary = raw_payload(b"\x80\x81\x82" * 100, 10, content_type="x")
    assert binary["raw_encoding"] == "base64"
    assert base64.b64decode(binary["raw"]) == (b"\x80\x81\x82" * 4)[:10]
    assert binary["content_type"] == "x"
    assert raw_payload(None, 10)["raw"] == ""


def test_error_names_messages_and_tracebacks_are_bounded():
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert error_class_name(KeyError("x")) == "KeyError"
    assert error_class_name(DecodeError("x")) == "kombu.exceptions.DecodeError"
    assert error_message(Unprintable()).startswith("<")
    assert len(error_message(ValueError("x" * 100_000))) == MAX_ERROR_MESSAGE + 1

    try:
        raise ValueError("y" * 100_000 + " bottom")
    except ValueError as error:
        text = format_traceback(error)
    assert text is not None and len(text) == MAX_TRACEBACK + 1
    assert text.startswith("…y") and text.endswith(" bottom\n")


def test_filters_match_full_and_bare_names_and_check_reasons():
    summary = letter().summary()
    assert Filters.build(job_class="GuestsCleanupJob").matches(summary)
    assert Filters.build(job_class="shop.jobs.GuestsCleanupJob", reason="exhausted").matches(
        summary
    )
    assert not Filters.build(job_class="CleanupJob").matches(summary)
    assert not Filters.build(queue_name="default").matches(summary)
    assert Filters.build(error_class="TimeoutError").matches(summary)
    assert not Filters.build().needs_summary
    assert Filters.build(since=timedelta(hours=1)).since is not None
    with pytest.raises(ConfigurationError, match="reason='lost'"):
        Filters.build(reason="lost")


def test_operator_times_parse_durations_and_iso_moments():
    assert parse_when("90s") == timedelta(seconds=90)
    assert parse_when("15m") == timedelta(minutes=15)
    assert parse_when(" 2H ") == timedelta(hours=2)
    assert parse_when("7d") == timedelta(days=7)
    assert parse_when("1w") == timedelta(weeks=1)
    assert parse_when("2026-11-24") == datetime(2026, 11, 24, tzinfo=timezone.utc)
    assert parse_when("2026-11-24T14:00:00Z") == datetime(2026, 11, 24, 14, tzinfo=timezone.utc)
    with pytest.raises(ConfigurationError, match="neither a duration"):
        parse_when("yesterday")
    assert (
        cutoff_time(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    )
    with pytest.raises(ConfigurationError):
        cutoff_time("1h")  # type: ignore[arg-type]


def test_retry_payload_resets_counters_and_keeps_identity():
    original = payload(scheduled_at="2026-11-25T00:00:00.000000Z")
    fresh = retry_payload(original)
    assert (fresh["executions"], fresh["exception_executions"], fresh["scheduled_at"]) == (
        0,
        {},
        None,
    )
    assert (fresh["job_id"], fresh["arguments"], fresh["queue_name"]) == (
        "job-1",
        [42],
        "low_priority",
    )
    assert fresh["provider_job_id"] != original["provider_job_id"]
    assert original["executions"] == 3  # the record's payload is not changed


@pytest.mark.parametrize(
    ("decoded", "body", "problem"),
    [
        ([[payload()], {}, None], None, None),
        ([[payload()], {}, {"callbacks": None, "chord": None}], None, None),
        ({"args": [1], "kwargs": {}}, None, None),  # a hybrid body: Celery reads it as protocol 1
        ({"task": "x", "args": [1], "kwargs": {}}, {"args": [1], "kwargs": {}}, None),
        ({"a": 1}, None, "[args, kwargs, embed]"),
        ([1, 2], None, "[args, kwargs, embed]"),
        (["args", {}, None], None, "[args, kwargs, embed]"),  # `"args" in body` misleads Celery
        ("args", None, "[args, kwargs, embed]"),
        (5, None, "[args, kwargs, embed]"),
        ([1, {}, None], None, "args must be a list"),
        ([[], [], None], None, "kwargs must be an object"),
        ([[], {}, []], None, "embed must be an object"),
        ([[], {}, {"callbacks": "x"}], None, "'callbacks' must be a list"),
        ([[], {}, {"chord": 1}], None, "'chord' must be an object"),
        ({"args": 1}, None, "args must be a list"),
    ],
)
def test_message_bodies_are_checked_before_celery_uses_them(decoded, body, problem):
    found = body_problem(Message(decoded), body)
    if problem is None:
        assert found is None
    else:
        assert problem in str(found)


def test_a_body_that_cannot_be_decoded_is_the_problem():
    error = DecodeError("bad json")
    assert body_problem(Message(error=error), None) is error


def test_an_unknown_task_keeps_a_valid_job_payload_and_a_raw_body_otherwise():
    good = Message([[payload(job_class="shop.jobs.Renamed")], {}, None], body=b"...")
    kept = letter_for_message(good, LookupError("x"), reason="unknown_job_class", raw_max_bytes=64)
    assert kept.payload["job_class"] == "shop.jobs.Renamed"
    assert (kept.id, kept.job_id, kept.attempts, kept.queue_name) == (
        "task-9",
        "job-1",
        3,
        "low_priority",
    )
    bad = Message(error=DecodeError("x"), body=b"\x00" * 100)
    raw = letter_for_message(bad, DecodeError("x"), reason="unknown_job_class", raw_max_bytes=64)
    assert raw.payload["raw_size"] == 100 and raw.payload["truncated"]
    assert (raw.job_class, raw.queue_name, raw.payload["task"]) == (
        "shop.jobs.X",
        "default",
        "shop.jobs.X",
    )
    nameless = Message(error=DecodeError("x"), headers=None)
    assert (
        letter_for_message(
            nameless, ValueError("x"), reason="malformed_message", raw_max_bytes=8
        ).id
        == "tag-1"
    )


def test_a_malformed_payload_is_kept_raw_and_anything_else_whole():
    huge = payload(job_id=5, arguments=["x" * 10_000])
    raw = letter_for_failure(
        huge,
        ValueError("bad"),
        reason="malformed_message",
        job=None,
        letter_id=None,
        raw_max_bytes=100,
    )
    assert raw.payload["truncated"] and len(raw.payload["raw"]) == 100
    assert (raw.job_id, raw.job_class, raw.attempts) == (None, "shop.jobs.GuestsCleanupJob", 3)
    assert raw.id != "task-1"  # outside a worker the id is fresh, never taken from the payload
    whole = letter_for_failure(
        payload(),
        KeyError("k"),
        reason="unknown_job_class",
        job=None,
        letter_id="t",
        raw_max_bytes=1,
    )
    assert whole.payload == payload() and whole.id == "t"


def test_tables_and_the_show_page():
    assert table(["A", "NUMBER"], [["x", 1], ["long", 22]], right={1}).splitlines() == [
        "A     NUMBER",
        "x          1",
        "long      22",
    ]
    rendered = letters_table([letter()])
    assert rendered.splitlines()[1].split()[:3] == ["7c0e9d6b", "2026-11-24", "14:06:49"]
    assert "TimeoutError: gateway timed out" in rendered
    page = describe(letter())
    assert page.splitlines()[0] == "Dead letter 7c0e9d6b-0000-4000-8000-000000000000"
    assert "\n  Attempts:  3\n" in page
    assert '\n    "job_id": "job-1",\n' in page


def test_setup_turns_dead_letters_off_for_a_broker_that_is_not_redis(caplog):
    from celery import Celery

    from activejob_celery import init_app
    from activejob_celery.dead_letters.binding import is_set_up
    from activejob_celery.dead_letters.consumer import DeadLetterConsumer
    from activejob_celery.parts_off import warn_parts_off

    app = Celery("rabbit", broker="amqp://guest@localhost//", set_as_current=False)
    init_app(app)
    assert "Dead letters" not in caplog.text  # said once, when a worker starts
    warn_parts_off(app)  # what the worker's start step does
    assert "Dead letters are off for app 'rabbit'" in caplog.text
    assert DeadLetterConsumer not in app.steps["consumer"]
    assert not is_set_up(app)

    class QuietJob(ApplicationJob):
        def perform(self):
            raise KeyError("nothing to record it in")

    from activejob_celery.task import run_payload

    with pytest.raises(KeyError):
        run_payload(QuietJob().serialize())
