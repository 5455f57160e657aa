"""The store contract on both backends: retention, filters, prefixes, discard, purge, signals."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from activejob_celery import signals
from activejob_celery.config import Settings
from activejob_celery.dead_letters import (
    DeadLetter,
    DeadLetterNotFoundError,
    DeadLetterStore,
    MemoryDeadLetterStore,
    NotRetryableError,
    RedisDeadLetterStore,
)
from tests.integration.dead_letters_support import job_payload

NOW = datetime.now(timezone.utc)


def letter(
    *,
    failed_at: datetime | None = None,
    job_class: str = "shop.jobs.GuestsCleanupJob",
    reason: str = "unhandled",
    error_class: str = "TimeoutError",
    queue: str = "default",
) -> DeadLetter:
    payload = job_payload(job_class, 1, queue_name=queue, executions=3)
    return DeadLetter(
        id=str(uuid.uuid4()),
        job_id=payload["job_id"],
        job_class=job_class,
        queue_name=queue,
        payload=payload,
        error_class=error_class,
        error_message="it broke",
        traceback="Traceback (most recent call last):\n  ...\nTimeoutError: it broke\n",
        reason=reason,
        attempts=3,
        failed_at=failed_at or datetime.now(timezone.utc),
    )


@pytest.fixture(params=["memory", "redis"])
def aj_store_factory(request, aj_redis):
    made: list[DeadLetterStore] = []

    def make(**settings_values):
        settings = Settings(**settings_values)
        if request.param == "memory":
            store = DeadLetterStore.from_url(f"memory://{uuid.uuid4()}", settings=settings)
            assert isinstance(store, MemoryDeadLetterStore)
        else:
            store = DeadLetterStore.from_url(aj_redis.url, settings=settings)
            assert isinstance(store, RedisDeadLetterStore)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def test_a_record_round_trips_every_field(aj_store_factory):
    store = aj_store_factory()
    original = letter()
    store.record(original)
    assert store.get(original.id) == original
    assert store.list() == [original]
    assert store.get("missing") is None


def test_retention_keeps_the_newest_max_entries(aj_store_factory):
    store = aj_store_factory(dead_letters_max=3)
    letters = [letter(failed_at=NOW - timedelta(minutes=10 - index)) for index in range(5)]
    for each in letters:
        store.record(each)
    assert store.count() == 3
    assert [each.id for each in store.list()] == [each.id for each in reversed(letters[2:])]
    assert store.get(letters[0].id) is None


def test_retention_drops_entries_older_than_the_ttl(aj_store_factory):
    store = aj_store_factory(dead_letters_ttl=timedelta(hours=1))
    old = letter(failed_at=NOW - timedelta(hours=2))
    recent = letter(failed_at=NOW - timedelta(minutes=30))
    store.record(old)  # older than the TTL already: trimmed by its own insert
    assert store.count() == 0
    store.record(recent)
    store.record(letter())
    assert store.count() == 2
    assert store.get(recent.id) == recent


def test_trimming_copes_with_more_entries_than_lua_can_unpack(aj_redis):
    # Lua's unpack() stops at a few thousand values; the script deletes in chunks.
    store = DeadLetterStore.from_url(aj_redis.url, settings=Settings(dead_letters_max=5))
    with aj_redis.client.pipeline(transaction=False) as pipe:
        for index in range(9000):
            pipe.zadd(store.index_key, {f"bulk-{index:05}": NOW.timestamp() - 10_000 + index})
            pipe.hset(store.records_key, f"bulk-{index:05}", "{}")
            pipe.hset(store.summaries_key, f"bulk-{index:05}", "{}")
        pipe.execute()
    newest = letter()
    store.record(newest)
    assert store.count() == 5
    assert aj_redis.client.hlen(store.records_key) == 5
    assert aj_redis.client.hlen(store.summaries_key) == 5
    assert store.list(limit=1) == [newest]
    store.close()


def test_list_filters_by_class_queue_error_reason_and_since(aj_store_factory):
    store = aj_store_factory()
    a = letter(
        job_class="shop.jobs.ImportJob", reason="exhausted", failed_at=NOW - timedelta(hours=3)
    )
    b = letter(job_class="shop.jobs.MailJob", queue="mailers", error_class="smtplib.SMTPException")
    c = letter(job_class="shop.jobs.ImportJob", reason="discarded", error_class="ValueError")
    for each in (a, b, c):
        store.record(each)
    ids = lambda **filters: [each.id for each in store.list(**filters)]  # noqa: E731
    assert ids(job_class="ImportJob") == [c.id, a.id]
    assert ids(job_class="shop.jobs.ImportJob", reason="exhausted") == [a.id]
    assert ids(queue_name="mailers") == [b.id]
    assert ids(error_class="SMTPException") == [b.id]
    assert ids(error_class="smtplib.SMTPException") == [b.id]
    assert ids(since=timedelta(hours=1)) == [c.id, b.id]
    assert ids(since=NOW - timedelta(hours=4), job_class="ImportJob") == [c.id, a.id]
    assert ids(limit=1) == [c.id]
    assert store.count_by_class() == {"shop.jobs.ImportJob": 2, "shop.jobs.MailJob": 1}


def test_ids_resolve_from_unique_prefixes(aj_store_factory):
    store = aj_store_factory()
    first = dataclasses.replace(letter(), id="abc123-first")
    second = dataclasses.replace(letter(), id="abc456-second")
    store.record(first)
    store.record(second)
    assert store.resolve("abc1") == first.id
    assert store.resolve(second.id) == second.id
    with pytest.raises(DeadLetterNotFoundError, match="starts 2 ids"):
        store.resolve("abc")
    with pytest.raises(DeadLetterNotFoundError):
        store.resolve("zzz")


def test_discard_removes_entries_and_sends_the_signal(aj_store_factory):
    store = aj_store_factory()
    kept, dropped, also_dropped = letter(), letter(), letter()
    for each in (kept, dropped, also_dropped):
        store.record(each)
    seen: list[str] = []

    def receiver(sender, dead_letter, **extra):
        seen.append(dead_letter.id)

    signals.dead_letter_discarded.connect(receiver, weak=False)
    try:
        assert store.discard(dropped.id) is True
        assert store.discard(dropped.id) is False
        progress: list[int] = []
        assert store.discard_many([also_dropped.id, "missing"], progress=progress.append) == 1
    finally:
        signals.dead_letter_discarded.disconnect(receiver)
    assert seen == [dropped.id, also_dropped.id]
    assert progress == [2]
    assert [each.id for each in store.list()] == [kept.id]


def test_purge_removes_entries_older_than_a_cutoff_in_batches(aj_store_factory):
    store = aj_store_factory()
    old = [letter(failed_at=NOW - timedelta(days=40, minutes=index)) for index in range(5)]
    fresh = letter(failed_at=NOW - timedelta(days=1))
    for each in [*old, fresh]:
        store.record(each)
    progress: list[int] = []
    assert store.purge(older_than=timedelta(days=30), batch_size=2, progress=progress.append) == 5
    assert progress == [2, 2, 1]
    assert [each.id for each in store.list()] == [fresh.id]
    assert store.purge() == 1
    assert store.count() == 0


def test_recording_sends_dead_letter_recorded(aj_store_factory):
    store = aj_store_factory()
    seen: list[tuple[object, str]] = []

    def receiver(sender, dead_letter, **extra):
        seen.append((sender, dead_letter.id))

    signals.dead_letter_recorded.connect(receiver, weak=False)
    try:
        recorded = store.record(letter())
    finally:
        signals.dead_letter_recorded.disconnect(receiver)
    assert seen == [(store, recorded.id)]


def test_malformed_entries_cannot_be_retried(aj_store_factory):
    store = aj_store_factory()
    raw = dataclasses.replace(
        letter(), reason="malformed_message", payload={"raw": "{oops", "raw_encoding": "utf-8"}
    )
    store.record(raw)
    with pytest.raises(NotRetryableError, match="malformed message"):
        store.retry(raw.id)
    with pytest.raises(DeadLetterNotFoundError):
        store.retry("missing")
    assert store.count() == 1
