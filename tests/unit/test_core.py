"""Job state and the payload: serialize, deserialize, validation and the payload's times."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from activejob_celery import (
    ApplicationJob,
    MalformedPayloadError,
    UnknownJobClassError,
    core,
    queue_as,
    queue_with_priority,
)
from activejob_celery.core import (
    format_time,
    new_id,
    now_text,
    parse_time,
    validate_payload,
)
from activejob_celery.execution import instantiate
from tests.unit.helpers import FROZEN_NOW, PAYLOAD_KEYS

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class InvoiceJob(ApplicationJob):
    job_name = "unit.InvoiceJob"

    def perform(self, number, *, paid=False):
        return (number, paid)


def valid_payload(**changes):
    payload = {
        "job_class": "unit.InvoiceJob",
        "job_id": "0a0b8a39-4ab4-4bb0-9b8a-4a2f0f6a7c10",
        "provider_job_id": "c3d0b6c2-5c1e-4e27-a7ea-1f6ad3d4d4a4",
        "queue_name": "billing",
        "priority": 3,
        "arguments": [7, {"paid": True, "_aj_kwargs": ["paid"]}],
        "executions": 2,
        "exception_executions": {"[TimeoutError]": 1},
        "locale": "fr",
        "timezone": "Europe/Paris",
        "enqueued_at": "2026-11-20T08:30:00.000001Z",
        "scheduled_at": "2026-11-24T15:00:00.000000Z",
    }
    payload.update(changes)
    return payload


# --------------------------------------------------------------------------- new jobs


def test_a_new_job_has_rails_defaults():
    job = InvoiceJob(7, paid=True)
    assert uuid.UUID(job.job_id).version == 4
    assert job.job_id == str(uuid.UUID(job.job_id))
    assert job.arguments == [7]
    assert job.keyword_arguments == {"paid": True}
    assert job.provider_job_id is None
    assert job.queue_name == "default"
    assert job.priority is None
    assert job.executions == 0
    assert job.exception_executions == {}
    assert job.locale is None
    assert job.timezone == "UTC"
    assert job.enqueued_at is None
    assert job.scheduled_at is None
    assert job.successfully_enqueued is False
    assert job.enqueue_error is None
    assert job.failure_reason is None
    assert InvoiceJob().job_id != job.job_id


def test_timezone_is_captured_at_construction(aj_settings):
    aj_settings(default_timezone="Asia/Tokyo")
    job = InvoiceJob()
    aj_settings(default_timezone="UTC")
    assert job.timezone == "Asia/Tokyo"
    assert job.serialize()["timezone"] == "Asia/Tokyo"


# --------------------------------------------------------------------------- serialize


def test_serialize_writes_every_rails_key_in_order(aj_clock):
    job = InvoiceJob(7, paid=True)
    payload = job.serialize()
    assert tuple(payload) == PAYLOAD_KEYS
    assert payload == {
        "job_class": "unit.InvoiceJob",
        "job_id": job.job_id,
        "provider_job_id": None,
        "queue_name": "default",
        "priority": None,
        "arguments": [7, {"paid": True, "_aj_kwargs": ["paid"]}],
        "executions": 0,
        "exception_executions": {},
        "locale": "en",
        "timezone": "UTC",
        "enqueued_at": "2026-11-24T14:06:49.123456Z",
        "scheduled_at": None,
    }
    assert json.loads(json.dumps(payload)) == payload


def test_serialize_reflects_the_job_state(aj_clock):
    class ReportJob(ApplicationJob):
        queue_as("reports")
        queue_with_priority(4)

        def perform(self):
            pass

    job = ReportJob()
    job.provider_job_id = "celery-task-id"
    job.executions = 3
    job.exception_executions = {"[KeyError]": 2}
    job.locale = "de"
    job.scheduled_at = datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    payload = job.serialize()
    assert payload["provider_job_id"] == "celery-task-id"
    assert payload["queue_name"] == "reports"
    assert payload["priority"] == 4
    assert payload["executions"] == 3
    assert payload["exception_executions"] == {"[KeyError]": 2}
    assert payload["locale"] == "de"
    assert payload["scheduled_at"] == "2026-12-01T08:00:00.000000Z"
    # The payload holds a copy: changing it does not change the job.
    payload["exception_executions"]["[KeyError]"] = 99
    assert job.exception_executions == {"[KeyError]": 2}


def test_enqueued_at_is_written_on_every_serialize(aj_clock):
    job = InvoiceJob()
    first = job.serialize()["enqueued_at"]
    aj_clock.advance(1.5)
    second = job.serialize()["enqueued_at"]
    assert (first, second) == ("2026-11-24T14:06:49.123456Z", "2026-11-24T14:06:50.623456Z")
    # Rails only sets enqueued_at on deserialize.
    assert job.enqueued_at is None


def test_enqueued_at_has_the_documented_format_with_the_real_clock():
    assert ISO_UTC.match(InvoiceJob().serialize()["enqueued_at"])


def test_locale_defaults_to_the_setting_and_the_job_locale_wins(aj_settings):
    aj_settings(default_locale="pt-BR")
    job = InvoiceJob()
    assert job.serialize()["locale"] == "pt-BR"
    job.locale = "es"
    assert job.serialize()["locale"] == "es"


def test_naive_scheduled_at_is_taken_as_utc():
    job = InvoiceJob()
    job.scheduled_at = datetime(2026, 1, 2, 3, 4, 5)
    assert job.serialize()["scheduled_at"] == "2026-01-02T03:04:05.000000Z"


# --------------------------------------------------------------------------- deserialize


def test_deserialize_restores_every_field():
    job = InvoiceJob.deserialize(valid_payload())
    assert type(job) is InvoiceJob
    assert job.job_id == "0a0b8a39-4ab4-4bb0-9b8a-4a2f0f6a7c10"
    assert job.provider_job_id == "c3d0b6c2-5c1e-4e27-a7ea-1f6ad3d4d4a4"
    assert job.queue_name == "billing"
    assert job.priority == 3
    assert job.executions == 2
    assert job.exception_executions == {"[TimeoutError]": 1}
    assert job.locale == "fr"
    assert job.timezone == "Europe/Paris"
    assert job.enqueued_at == datetime(2026, 11, 20, 8, 30, 0, 1, tzinfo=timezone.utc)
    assert job.scheduled_at == datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
    # Arguments stay encoded until the job runs (so decoding errors are rescuable).
    assert job.arguments == []
    assert job.keyword_arguments == {}
    job.decode_arguments()
    assert job.arguments == [7]
    assert job.keyword_arguments == {"paid": True}


def test_deserialize_of_any_class_uses_the_payload_class():
    class OtherJob(ApplicationJob):
        def perform(self):
            pass

    assert type(OtherJob.deserialize(valid_payload())) is InvoiceJob
    assert type(ApplicationJob.deserialize(valid_payload())) is InvoiceJob


def test_deserialize_falls_back_to_current_locale_and_timezone(aj_settings):
    aj_settings(default_locale="it", default_timezone="Europe/Rome")
    job = instantiate(valid_payload(locale=None, timezone=None))
    assert (job.locale, job.timezone) == ("it", "Europe/Rome")
    payload = valid_payload()
    del payload["locale"], payload["timezone"], payload["executions"]
    payload["exception_executions"] = None
    job = instantiate(payload)
    assert (job.locale, job.timezone, job.executions) == ("it", "Europe/Rome", 0)
    assert job.exception_executions == {}


def test_deserialized_queue_name_is_not_prefixed_or_recomputed_again(aj_settings):
    calls = []

    class DynamicJob(ApplicationJob):
        job_name = "unit.DynamicJob"

        @queue_as
        def pick(self):
            calls.append(self)
            return "computed"

        def perform(self):
            pass

    aj_settings(queue_name_prefix="prod")
    job = instantiate(valid_payload(job_class="unit.DynamicJob", queue_name="from_payload"))
    assert job.queue_name == "from_payload"
    assert calls == []


def test_serialize_after_deserialize_passes_undecoded_arguments_through(aj_clock):
    unknown_tag = [{"_aj_serialized": "gone_type", "value": 1}]
    job = instantiate(valid_payload(arguments=unknown_tag))
    again = job.serialize()
    assert again["arguments"] == unknown_tag
    assert again["job_id"] == valid_payload()["job_id"]
    # Rails writes enqueued_at on every serialize: a re-enqueue carries the new time.
    assert job.enqueued_at == datetime(2026, 11, 20, 8, 30, 0, 1, tzinfo=timezone.utc)
    assert again["enqueued_at"] == "2026-11-24T14:06:49.123456Z"


def test_round_trip_through_json_keeps_the_job(aj_clock):
    job = InvoiceJob(7, paid=True)
    job.scheduled_at = FROZEN_NOW + timedelta(minutes=5)
    payload = json.loads(json.dumps(job.serialize()))
    back = instantiate(payload)
    back.decode_arguments()
    assert (back.job_id, back.arguments, back.keyword_arguments) == (
        job.job_id,
        [7],
        {"paid": True},
    )
    assert back.scheduled_at == job.scheduled_at
    assert back.enqueued_at == FROZEN_NOW
    assert back.serialize() == payload


def test_unknown_job_class_is_an_error_naming_it():
    with pytest.raises(UnknownJobClassError) as excinfo:
        instantiate(valid_payload(job_class="shop.jobs.RenamedJob"))
    assert excinfo.value.job_class == "shop.jobs.RenamedJob"
    assert "'shop.jobs.RenamedJob' is not a registered job class" in str(excinfo.value)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"job_class": None}, "'job_class' must be a string"),
        ({"job_class": 3}, "'job_class' must be a string"),
        ({"job_id": ["x"]}, "'job_id' must be a string"),
        ({"queue_name": None}, "'queue_name' must be a string"),
        ({"provider_job_id": 1}, "'provider_job_id' must be a string or null"),
        ({"locale": 1}, "'locale' must be a string or null"),
        ({"timezone": False}, "'timezone' must be a string or null"),
        ({"enqueued_at": 1.5}, "'enqueued_at' must be a string or null"),
        ({"enqueued_at": "yesterday"}, "'enqueued_at' is not an ISO 8601 time"),
        ({"scheduled_at": "2026-13-45T00:00:00Z"}, "'scheduled_at' is not an ISO 8601 time"),
        ({"priority": "5"}, "'priority' must be an integer or null"),
        ({"priority": True}, "'priority' must be an integer or null"),
        ({"priority": 1.5}, "'priority' must be an integer or null"),
        ({"arguments": None}, "'arguments' must be a list"),
        ({"arguments": {"a": 1}}, "'arguments' must be a list"),
        ({"executions": -1}, "'executions' must be a non-negative integer"),
        ({"executions": "1"}, "'executions' must be a non-negative integer"),
        ({"executions": True}, "'executions' must be a non-negative integer"),
        ({"exception_executions": {"[E]": "1"}}, "'exception_executions' must map strings"),
        ({"exception_executions": {"[E]": True}}, "'exception_executions' must map strings"),
        ({"exception_executions": [1]}, "'exception_executions' must map strings"),
    ],
)
def test_malformed_payloads_are_rejected_naming_the_field(change, fragment):
    with pytest.raises(MalformedPayloadError) as excinfo:
        validate_payload(valid_payload(**change))
    assert fragment in str(excinfo.value)
    assert str(excinfo.value).startswith("Malformed job payload: ")
    with pytest.raises(MalformedPayloadError):
        instantiate(valid_payload(**change))


@pytest.mark.parametrize("body", [None, [], "job", 42, b"{}"])
def test_a_payload_must_be_a_json_object(body):
    with pytest.raises(MalformedPayloadError, match="expected a JSON object"):
        validate_payload(body)


def test_missing_required_keys_are_rejected():
    for key in ("job_class", "job_id", "queue_name", "arguments"):
        payload = valid_payload()
        del payload[key]
        with pytest.raises(MalformedPayloadError, match=key):
            validate_payload(payload)


def test_optional_keys_may_be_missing_or_null_and_extra_keys_are_ignored():
    payload = {
        "job_class": "unit.InvoiceJob",
        "job_id": "x",
        "queue_name": "q",
        "arguments": [],
        "continuation": {"step": "a"},
    }
    validate_payload(payload)
    job = instantiate(payload)
    assert (job.priority, job.provider_job_id, job.enqueued_at, job.scheduled_at) == (
        None,
        None,
        None,
        None,
    )


# --------------------------------------------------------------------------- times


def test_format_time_is_utc_with_microseconds():
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)) == (
        "2026-01-02T03:04:05.000006Z"
    )
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))) == (
        "2026-01-02T08:04:05.000000Z"
    )
    assert format_time(datetime(2026, 1, 2)) == "2026-01-02T00:00:00.000000Z"
    assert format_time(datetime(2026, 1, 2, 23, 0, tzinfo=timezone(timedelta(hours=-5)))) == (
        "2026-01-03T04:00:00.000000Z"
    )


def test_new_id_is_a_random_uuid4_in_its_text_form():
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05.000006Z", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)),
        ("2026-01-02T03:04:05+02:00", datetime(2026, 1, 2, 1, 4, 5, tzinfo=timezone.utc)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ],
)
def test_parse_time_accepts_utc_offsets_and_naive(text, expected):
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_format_and_parse_round_trip():
    moment = datetime(2030, 6, 7, 8, 9, 10, 111213, tzinfo=timezone.utc)
    assert parse_time(format_time(moment)) == moment


def test_repr_shows_class_id_and_queue():
    job = InvoiceJob()
    assert repr(job) == f"<InvoiceJob job_id={job.job_id!r} queue=None>"
    job.queue_name = "billing"
    assert repr(job) == f"<InvoiceJob job_id={job.job_id!r} queue='billing'>"


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (1796656000.25, "2026-12-07T15:06:40.250000Z"),
        (1796656001.5, "2026-12-07T15:06:41.500000Z"),  # the next second's date written anew
        (1796656001.9999996, "2026-12-07T15:06:42.000000Z"),  # rounded up into the next second
        (1796656001.0000004, "2026-12-07T15:06:41.000000Z"),  # back: no second kept by mistake
    ],
)
def test_now_text_writes_each_second_and_rounds_as_datetime_does(monkeypatch, now, text):
    monkeypatch.setattr(core, "time", SimpleNamespace(time=lambda: now))
    assert now_text() == text
    assert text == format_time(datetime.fromtimestamp(now, timezone.utc))


def test_now_text_is_format_time_of_now():
    before = datetime.now(timezone.utc)
    text = now_text()
    after = datetime.now(timezone.utc)
    assert format_time(parse_time(text)) == text
    assert before <= parse_time(text) <= after
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
