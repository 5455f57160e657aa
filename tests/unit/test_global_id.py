"""Model references: gid URIs, locators, and a missing record at perform time."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import ClassVar

import pytest

from activejob_celery import (
    ApplicationJob,
    DeserializationError,
    GlobalID,
    SerializationError,
    add_locator,
    discard_on,
    rescue_from,
    retry_on,
    serialize_arguments,
)
from activejob_celery.arguments import deserialize_arguments
from activejob_celery.execution import execute
from activejob_celery.global_id import remove_locator
from tests.unit.helpers import payload_of


@dataclass
class Guest:
    id: int
    name: str

    def to_global_id(self) -> GlobalID:
        return GlobalID("shop", "Guest", self.id)


@dataclass
class StringGidRecord:
    key: str

    def to_global_id(self) -> str:
        return f"gid://files/Document/{self.key}"


class Table:
    """A tiny in-memory 'database' with a locator."""

    def __init__(self) -> None:
        self.rows: dict[str, Guest] = {}
        self.lookups: list[GlobalID] = []

    def locate(self, gid: GlobalID) -> Guest | None:
        self.lookups.append(gid)
        assert gid.model_name == "Guest"
        return self.rows.get(str(gid.model_id))


@pytest.fixture
def guests() -> Table:
    table = Table()
    table.rows["42"] = Guest(42, "Ada")
    add_locator("shop", table.locate)
    return table


def test_global_id_formats_and_parses():
    gid = GlobalID("shop", "Guest", 42)
    assert str(gid) == "gid://shop/Guest/42"
    parsed = GlobalID.parse("gid://shop/Guest/42")
    assert (parsed.app, parsed.model_name, parsed.model_id) == ("shop", "Guest", "42")
    # Ids are quoted, so slashes and spaces survive.
    odd = GlobalID("files", "Document", "a/b c")
    assert str(odd) == "gid://files/Document/a%2Fb%20c"
    assert GlobalID.parse(str(odd)).model_id == "a/b c"


@pytest.mark.parametrize(
    "uri",
    ["", "shop/Guest/1", "gid://shop/Guest", "gid://shop/Guest/1//", "gid:///Guest/1", 42],
)
def test_global_id_parse_rejects_anything_else(uri):
    with pytest.raises(ValueError, match="not a global id"):
        GlobalID.parse(uri)


def test_records_travel_as_references_and_come_back_through_the_locator(guests):
    encoded = serialize_arguments([Guest(42, "Ada")], {"also": [Guest(42, "Ada")]})
    assert encoded == [
        {"_aj_globalid": "gid://shop/Guest/42"},
        {"also": [{"_aj_globalid": "gid://shop/Guest/42"}], "_aj_kwargs": ["also"]},
    ]
    guests.rows["42"] = Guest(42, "Ada Lovelace")  # the record changed after enqueue
    args, kwargs = deserialize_arguments(json.loads(json.dumps(encoded)))
    assert args == [Guest(42, "Ada Lovelace")]
    assert kwargs == {"also": [Guest(42, "Ada Lovelace")]}
    assert [str(gid) for gid in guests.lookups] == ["gid://shop/Guest/42"] * 2


def test_to_global_id_may_return_a_string():
    seen = []
    add_locator("files", lambda gid: seen.append(gid.model_id) or StringGidRecord(gid.model_id))
    encoded = serialize_arguments([StringGidRecord("report-7")], {})
    assert encoded == [{"_aj_globalid": "gid://files/Document/report-7"}]
    assert deserialize_arguments(encoded)[0] == [StringGidRecord("report-7")]
    assert seen == ["report-7"]


def test_invalid_global_id_is_a_serialization_error():
    @dataclass
    class Unsaved:
        def to_global_id(self) -> str:
            return "gid://shop/Guest/"

    with pytest.raises(SerializationError, match=r"Unable to serialize .*Unsaved as a global id"):
        serialize_arguments([Unsaved()], {})


def test_no_locator_for_the_app_is_a_deserialization_error():
    with pytest.raises(DeserializationError, match="no locator registered for app 'nowhere'"):
        deserialize_arguments([{"_aj_globalid": "gid://nowhere/Guest/1"}])


def test_remove_locator_forgets_the_app(guests):
    remove_locator("shop")
    with pytest.raises(DeserializationError, match="no locator registered"):
        deserialize_arguments([{"_aj_globalid": "gid://shop/Guest/42"}])


def test_locator_errors_are_wrapped_with_their_cause():
    def broken(gid):
        raise ConnectionError("database is down")

    add_locator("shop", broken)
    with pytest.raises(DeserializationError, match="database is down") as excinfo:
        deserialize_arguments([{"_aj_globalid": "gid://shop/Guest/1"}])
    assert isinstance(excinfo.value.__cause__, ConnectionError)


class GreetGuestJob(ApplicationJob):
    def perform(self, guest):
        return f"hello {guest.name}"


def enqueue_then_delete(adapter, guests, job_class) -> dict:
    job_class.perform_later(Guest(42, "Ada"))
    payload = payload_of(adapter.enqueued_jobs[-1])
    del guests.rows["42"]
    return payload


def test_a_present_record_is_fetched_at_perform_time(aj_adapter, guests):
    GreetGuestJob.perform_later(Guest(42, "Ada"))
    guests.rows["42"] = Guest(42, "Grace")
    assert execute(payload_of(aj_adapter.enqueued_jobs[0])) == "hello Grace"


def test_missing_record_raises_deserialization_error_at_perform_time(aj_adapter, guests, caplog):
    caplog.set_level(logging.INFO, logger="activejob_celery")
    payload = enqueue_then_delete(aj_adapter, guests, GreetGuestJob)
    with pytest.raises(DeserializationError) as excinfo:
        execute(payload)
    assert str(excinfo.value) == (
        "Error while trying to deserialize arguments: "
        "Couldn't find Guest with id '42' (gid://shop/Guest/42)"
    )
    assert isinstance(excinfo.value.__cause__, LookupError)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("Error performing" in line and "DeserializationError" in line for line in errors)


def test_missing_record_is_rescuable_with_discard_on(aj_adapter, guests):
    discarded = []

    class DiscardingJob(ApplicationJob):
        @discard_on(DeserializationError)
        def gone(self, error):
            discarded.append((self.executions, type(error.__cause__).__name__))

        def perform(self, guest):
            raise AssertionError("perform must not run")

    payload = enqueue_then_delete(aj_adapter, guests, DiscardingJob)
    result = execute(payload)
    assert isinstance(result, DeserializationError)
    # executions was incremented before decoding, as in Rails.
    assert discarded == [(1, "LookupError")]


def test_missing_record_is_rescuable_with_retry_on(aj_adapter, guests):
    class RetryingJob(ApplicationJob):
        retry_on(DeserializationError, wait=5, attempts=3, jitter=0)

        def perform(self, guest):
            pass

    payload = enqueue_then_delete(aj_adapter, guests, RetryingJob)
    assert isinstance(execute(payload), DeserializationError)
    retry = aj_adapter.enqueued_jobs[-1]
    assert retry["job_id"] == payload["job_id"]
    assert retry["executions"] == 1
    assert retry["exception_executions"] == {"[activejob_celery.errors.DeserializationError]": 1}
    # The undecoded arguments are re-enqueued as they were.
    assert retry["arguments"] == payload["arguments"]


def test_missing_record_is_rescuable_with_rescue_from(aj_adapter, guests):
    class RescuingJob(ApplicationJob):
        rescue_from(DeserializationError, with_="note")
        notes: ClassVar[list[str]] = []

        def note(self, error):
            self.notes.append(str(error))

        def perform(self, guest):
            pass

    payload = enqueue_then_delete(aj_adapter, guests, RescuingJob)
    assert isinstance(execute(payload), DeserializationError)
    assert len(RescuingJob.notes) == 1
    assert "Couldn't find Guest" in RescuingJob.notes[0]


def test_unrescued_missing_record_marks_the_failure_reason(aj_adapter, guests):
    from activejob_celery.execution import instantiate, perform_now

    payload = enqueue_then_delete(aj_adapter, guests, GreetGuestJob)
    job = instantiate(payload)
    with pytest.raises(DeserializationError):
        perform_now(job)
    assert job.failure_reason == "deserialization"
    assert job.executions == 1
