"""A dead-letter retry claims its record first: two concurrent retries publish the job once."""

from __future__ import annotations

import functools
import threading

import pytest
from celery import Celery

from activejob_celery.dead_letters import DeadLetterError, DeadLetterStore, store_for
from activejob_celery.dead_letters.recorder import letter_for_failure
from tests.integration.dead_letters_support import job_payload
from tests.support.broker_lists import queue_length


def _letter(store):
    payload = job_payload("shop.jobs.ClaimedJob", 1, queue_name="claimed")
    letter = letter_for_failure(
        payload, RuntimeError("boom"), reason="exhausted", job=None, letter_id=None,
        raw_max_bytes=10_000,
    )  # fmt: skip
    return store.record(letter)


@pytest.fixture(params=["redis", "memory"])
def store(request, aj_app):
    if request.param == "redis":
        return store_for(aj_app)
    memory = DeadLetterStore.from_url("memory://claims", app=aj_app)
    memory.clear()
    return memory


@pytest.fixture
def held_publish():
    """``Celery.send_task`` whose first call waits until the test lets it go."""
    original = Celery.send_task
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @functools.wraps(original)
    def send_task(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 1:
            entered.set()
            release.wait(10)
        return original(self, name, *args, **kwargs)

    Celery.send_task = send_task
    yield entered, release, calls
    release.set()
    Celery.send_task = original


def test_two_concurrent_retries_publish_once(store, aj_redis, held_publish):
    entered, release, calls = held_publish
    letter = _letter(store)
    outcome: dict[str, object] = {}

    def first() -> None:
        outcome["first"] = store.retry(letter.id)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10), "the first retry never reached the publish"
    with pytest.raises(DeadLetterError, match="another caller"):
        store.retry(letter.id)  # the second click, while the first one publishes
    release.set()
    thread.join(10)
    assert isinstance(outcome.get("first"), str)
    assert calls == ["shop.jobs.ClaimedJob"]
    assert queue_length(aj_redis.client, "claimed") == 1
    assert store.count() == 0


def test_a_failed_publish_gives_the_claim_back(store, aj_redis):
    original = Celery.send_task
    failures = [RuntimeError("broker says no")]

    @functools.wraps(original)
    def send_task(self, *args, **kwargs):
        if failures:
            raise failures.pop()
        return original(self, *args, **kwargs)

    letter = _letter(store)
    Celery.send_task = send_task
    try:
        result = store.retry_many([letter.id])
        assert "broker says no" in result.failed[letter.id]
        assert store.get(letter.id) is not None
        store.retry(letter.id)  # claimable again at once
    finally:
        Celery.send_task = original
    assert queue_length(aj_redis.client, "claimed") == 1
    assert store.count() == 0


def test_bulk_retry_reports_records_another_caller_holds(store, aj_redis):
    letters = [_letter(store) for _ in range(3)]
    held = letters[1].id
    assert store._claim([held], 0.0, 1e12) == [1]
    result = store.retry_many([letter.id for letter in letters])
    assert set(result.retried) == {letters[0].id, letters[2].id}
    assert "another caller" in result.failed[held]
    assert store.get(held) is not None
    assert queue_length(aj_redis.client, "claimed") == 2
