"""Golden payloads: serialization reproduces ``tests/payloads/*.json`` exactly and round-trips them.

After a deliberate change to the wire format, regenerate with ``AJ_UPDATE_GOLDEN=1 pytest
tests/unit/test_payloads.py`` and review the diff: every change there is a change users see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from activejob_celery import add_locator
from activejob_celery.adapters import QueueAdapter
from activejob_celery.execution import instantiate
from tests.unit import payload_jobs
from tests.unit.helpers import PAYLOAD_KEYS
from tests.unit.test_arguments import same

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
UPDATE = os.environ.get("AJ_UPDATE_GOLDEN") == "1"


def dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@pytest.fixture(autouse=True)
def guests_locator():
    add_locator("shop", lambda gid: payload_jobs.Guest(int(gid.model_id)))


class GoldenAdapter(QueueAdapter):
    """Gives every enqueue the fixed provider id and keeps the payload it serialized."""

    display_name = "Golden"

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def enqueue(self, job: Any) -> None:
        job.provider_job_id = payload_jobs.PROVIDER_JOB_ID
        self.payloads.append(job.serialize())

    def enqueue_at(self, job: Any, timestamp: float) -> None:
        self.enqueue(job)


@pytest.fixture
def golden_adapter(monkeypatch) -> GoldenAdapter:
    adapter = GoldenAdapter()
    monkeypatch.setattr(payload_jobs.GoldenJob, "queue_adapter", adapter)
    return adapter


def build(name: str, adapter: GoldenAdapter) -> dict[str, Any]:
    job, options = payload_jobs.CASES[name]()
    job.job_id = payload_jobs.JOB_ID
    assert job.enqueue(**options) is job
    return adapter.payloads[-1]


def test_every_golden_file_has_a_case():
    assert sorted(path.stem for path in PAYLOADS.glob("*.json")) == sorted(payload_jobs.CASES)


@pytest.mark.parametrize("name", sorted(payload_jobs.CASES))
def test_serialization_reproduces_the_golden_payload(name, golden_adapter, aj_clock):
    payload = build(name, golden_adapter)
    path = PAYLOADS / f"{name}.json"
    if UPDATE:
        path.write_text(dump(payload), encoding="utf-8")
    assert tuple(payload) == PAYLOAD_KEYS
    assert dump(payload) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(payload_jobs.CASES))
def test_golden_payload_round_trips(name, golden_adapter, aj_clock):
    golden = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    original, _ = payload_jobs.CASES[name]()
    job = instantiate(golden)
    assert type(job) is type(original)
    job.decode_arguments()
    assert same(job.arguments, original.arguments)
    assert same(job.keyword_arguments, original.keyword_arguments)
    assert job.enqueued_at is not None
    assert dump(job.serialize()) == dump(golden)
