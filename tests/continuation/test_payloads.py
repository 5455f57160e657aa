"""The payload keys ``continuation`` and ``resumptions``: golden files, and Rails' payloads resume.

``tests/payloads/continuation/rails_resumable.json`` is a payload as Rails 8.1 writes it for a
job interrupted at cursor 433 (cursor stored raw); ``date_cursor.json`` is what this package
writes for a ``date`` cursor (through the argument serializer, as Rails 8.2 does).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from activejob_celery import DeserializationError, MalformedPayloadError, discard_on
from activejob_celery.execution import instantiate, perform_now
from activejob_celery.testing import TestAdapter, interrupt_job_during_step, perform_enqueued_jobs
from tests.continuation import golden_jobs
from tests.support.payloads import payload_of

GOLDEN = Path(__file__).resolve().parents[1] / "payloads" / "continuation"
JOB_ID = "7d8f2d4e-3a65-4c8e-9d3b-2f1e0c9b8a71"
PROVIDER_JOB_ID = "c0ffee00-1234-4abc-8def-0123456789ab"


def golden(name: str) -> dict[str, Any]:
    return dict(json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8")))


def normalized(payload: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with the ids and times ``like`` has (they depend on the clock)."""
    fixed = {k: like[k] for k in ("job_id", "provider_job_id", "enqueued_at", "scheduled_at")}
    return {**payload, **fixed}


def dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _interrupted(adapter: TestAdapter, job_class: Any, step: str, cursor: Any, *args: Any) -> Any:
    job = job_class(*args)
    job.job_id = JOB_ID
    job.enqueue()
    with interrupt_job_during_step(job_class, step, cursor=cursor):
        perform_enqueued_jobs()
    (record,) = adapter.enqueued_jobs
    return payload_of(record) | {k: record[k] for k in ("continuation", "resumptions")}


def test_an_interrupted_job_writes_the_rails_payload(adapter: TestAdapter) -> None:
    expected = golden("rails_resumable")
    payload = _interrupted(adapter, golden_jobs.ContinuableImportJob, "process", 433, 7)
    assert list(payload) == list(expected)  # Rails' key order: the two keys come last
    assert dump(normalized(payload, expected)) == dump(expected)


def test_a_date_cursor_is_written_tagged(adapter: TestAdapter) -> None:
    expected = golden("date_cursor")
    payload = _interrupted(adapter, golden_jobs.ContinuableReportJob, "by_day", date(2026, 11, 3))
    assert dump(normalized(payload, expected)) == dump(expected)


def test_a_rails_payload_resumes_here_and_serializes_back(adapter: TestAdapter) -> None:
    payload = golden("rails_resumable")
    job = instantiate(payload)
    assert dump(normalized(dict(job.serialize()), payload)) == dump(payload)  # untouched
    golden_jobs.ContinuableImportJob.done = []
    perform_now(job)
    assert golden_jobs.ContinuableImportJob.done == [433, 434]  # validate skipped, cursor kept
    assert job.resumptions == 1
    assert job.continuation.to_dict() == {"completed": ["validate", "process"]}


def test_a_date_cursor_comes_back_a_date(adapter: TestAdapter) -> None:
    golden_jobs.ContinuableReportJob.done = []
    job = instantiate(golden("date_cursor"))
    perform_now(job)
    assert golden_jobs.ContinuableReportJob.done == [date(2026, 11, 3), date(2026, 11, 4)]


def test_a_fresh_job_writes_empty_progress(adapter: TestAdapter) -> None:
    payload = dict(golden_jobs.ContinuableImportJob(7).serialize())
    assert payload["continuation"] == {"completed": []}
    assert payload["resumptions"] == 0
    assert list(payload)[-2:] == ["continuation", "resumptions"]


@pytest.mark.parametrize(
    ("continuation", "resumptions", "message"),
    [
        ([], 0, "'continuation' must be an object"),
        ({"completed": "validate"}, 0, "'continuation.completed' must be a list"),
        ({"completed": [1]}, 0, "'continuation.completed' must be a list"),
        ({"current": ["process"]}, 0, r"'continuation.current' must be \[step name, cursor\]"),
        ({"current": [3, 1]}, 0, r"'continuation.current' must be \[step name, cursor\]"),
        ({}, -1, "'resumptions' must be a non-negative integer"),
        ({}, True, "'resumptions' must be a non-negative integer"),
    ],
)
def test_malformed_progress_is_refused(continuation: Any, resumptions: Any, message: str) -> None:
    payload = golden("rails_resumable") | {
        "continuation": continuation,
        "resumptions": resumptions,
    }
    with pytest.raises(MalformedPayloadError, match=message):
        instantiate(payload)


class DiscardingReportJob(golden_jobs.ContinuableReportJob):
    job_name = "golden.DiscardingReportJob"
    discard_on(DeserializationError)


def test_an_undecodable_cursor_is_a_deserialization_error_discard_on_handles() -> None:
    payload = golden("date_cursor")
    payload["job_class"] = DiscardingReportJob.job_name
    payload["continuation"]["current"][1] = {"_aj_serialized": "NoSuchSerializer", "value": 1}
    job = instantiate(payload)
    assert isinstance(perform_now(job), DeserializationError)  # handled: returned, not raised
    assert job.serialize()["continuation"] == payload["continuation"]  # kept as it came
