"""``set(timeout=...)`` sets the message's hard limit on every publish path, copies included.

The direct path copies a template per job class, queue and priority; the ``timelimit`` header
is part of a template, so jobs of one class with and without a chosen timeout (or with two
different ones), enqueued interleaved, each get their own header: through Celery, as copies,
in bulk and as entries of the scheduled set. A dead letter retried from the store keeps it too.

Each test runs with Celery's own publish functions (the fixture of ``test_direct_proof``): a
test that initialises sentry-sdk wraps ``Celery.send_task`` for the rest of the session, and
then no template is proven (the direct path steps aside, as it must).
"""

from __future__ import annotations

import base64
import json

import pytest

from activejob_celery import ApplicationJob, adapters, perform_all_later, queue_as
from activejob_celery.adapters import direct as direct_module
from activejob_celery.dead_letters import store_for
from activejob_celery.dead_letters.recorder import letter_for_failure
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.scheduler.entries import decode_direct, member_for
from tests.integration.test_direct_proof import celerys_own_publish_functions  # noqa: F401
from tests.support.broker_lists import queue_entries
from tests.support.fixtures import make_app

GRACE = 2.0


class LimitedJob(ApplicationJob):
    queue_as("limited")

    def perform(self, number: int) -> None:
        pass


def _expected(number: int) -> list[float | None]:
    timeout = (None, 5.0, 7.0)[number % 3]
    return [None, None] if timeout is None else [timeout + GRACE, None]


def _job(number: int) -> LimitedJob:
    timeout = (None, 5.0, 7.0)[number % 3]
    return LimitedJob(number) if timeout is None else LimitedJob(number).set(timeout=timeout)


def _limits(messages: list[bytes]) -> dict[int, list[float | None]]:
    found = {}
    for raw in messages:
        message = json.loads(raw)
        [payload], _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        number = payload["arguments"][0]
        found[number] = message["headers"]["timelimit"]
    return found


def test_every_publish_path_gives_each_job_its_own_time_limit(aj_redis):
    app = make_app(aj_redis.url, activejob_timeout_grace=GRACE)
    try:
        direct = adapters.named_adapter("celery").direct
        assert direct is not None and direct.usable()
        # Two of each kind prove its template (untimed first: a template proven on them must
        # not be copied for the others); then copies, interleaved.
        for number in [0, 3, 1, 4, 2, 5, 6, 7, 8]:
            _job(number).enqueue()
        assert len([each for each in direct._templates.values() if each is not None]) == 3
        perform_all_later([_job(number) for number in range(9, 30)])
        found = _limits(queue_entries(aj_redis.client, "limited"))
        assert found == {number: _expected(number) for number in range(30)}

        delayed = [_job(number).set(wait=600) for number in range(30, 45)]
        perform_all_later(delayed)
        scheduled = scheduled_set_for(app)
        raws = []
        for job in delayed:
            entry = aj_redis.client.hget(
                scheduled.entries_key, member_for(job.job_id, job.provider_job_id)
            )
            [(_key, raw)] = decode_direct(entry)  # copies of the messages, pushed when due
            raws.append(raw)
        assert _limits(raws) == {number: _expected(number) for number in range(30, 45)}
    finally:
        app.close()


def test_a_dead_letter_retried_from_the_store_keeps_its_time_limit(aj_redis):
    app = make_app(aj_redis.url, activejob_timeout_grace=GRACE)
    try:
        store = store_for(app)
        for letter_id, job in (("timed", _job(1)), ("untimed", _job(0))):
            letter = letter_for_failure(
                job.serialize(), KeyError("x"), reason="unhandled", job=None,
                letter_id=letter_id, raw_max_bytes=100,
            )  # fmt: skip
            store.record(letter)
            store.retry(letter_id)
        found = _limits(queue_entries(aj_redis.client, "limited"))
        assert found == {1: [5.0 + GRACE, None], 0: [None, None]}
    finally:
        app.close()


@pytest.mark.parametrize("provable", [True, False], ids=["templates", "steps-aside"])
def test_templates_for_chosen_timeouts_are_capped_and_the_rest_go_through_celery(
    aj_redis, monkeypatch, provable
):
    monkeypatch.setattr(direct_module, "TIMED_KINDS", 2)
    if not provable:  # as with Sentry's integration: each kind is remembered as "never copy"
        monkeypatch.setattr(direct_module, "stranger", lambda app, functions: "wrapped")
    app = make_app(aj_redis.url, activejob_timeout_grace=GRACE)
    try:
        direct = adapters.named_adapter("celery").direct
        timeouts = [5.0, 6.0, 7.0, 8.0, None]
        for round_ in range(3):
            for index, timeout in enumerate(timeouts):
                job = LimitedJob(round_ * 10 + index)
                (job if timeout is None else job.set(timeout=timeout)).enqueue()
        kinds = {key[3]: template is not None for key, template in direct._templates.items()}
        # the first two chosen timeouts, and no timeout; nothing more is kept
        assert kinds == dict.fromkeys([5.0, 6.0, None], provable)
        assert direct._candidates == {}
        found = _limits(queue_entries(aj_redis.client, "limited"))
        expected = {}
        for round_ in range(3):
            for index, timeout in enumerate(timeouts):
                expected[round_ * 10 + index] = (
                    [None, None] if timeout is None else [timeout + GRACE, None]
                )
        assert found == expected
    finally:
        app.close()
