"""Canvas with jobs: ``Job.s``/``Job.si`` in chains, groups and chords, mixed with plain tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, chain, chord, group

from activejob_celery import ApplicationJob, retry_on
from activejob_celery.canvas import CALL_KEY
from tests.support.fixtures import make_app
from tests.support.results import UNCLOSED_SOCKETS, close_results
from tests.support.worker import run_worker, wait_for

pytestmark = pytest.mark.filterwarnings(UNCLOSED_SOCKETS)


class Flaky(Exception):
    pass


@pytest.fixture
def canvas_app(aj_redis: Any) -> Iterator[Celery]:
    app = make_app(aj_redis.url, result_backend=aj_redis.url)
    yield app
    close_results(app)


def test_a_chain_of_three_immutable_jobs_runs_in_order(canvas_app, aj_job_buffer):
    class StepJob(ApplicationJob):
        def perform(self, name):
            aj_job_buffer.add((name, self.job_id))
            return f"{name} is not passed on"

    with run_worker(canvas_app):
        chain(StepJob.si("one"), StepJob.si("two"), StepJob.si("three")).delay()
        wait_for(lambda: len(aj_job_buffer.values) == 3, timeout=30)
    names = [name for name, _ in aj_job_buffer.values]
    assert names == ["one", "two", "three"]
    assert len({job_id for _, job_id in aj_job_buffer.values}) == 3  # a fresh payload each


def test_the_second_job_of_a_chain_receives_the_first_ones_result(canvas_app, aj_job_buffer):
    class FetchJob(ApplicationJob):
        def perform(self, number):
            return {"fetched": number}

    class UseJob(ApplicationJob):
        def perform(self, fetched, label):
            aj_job_buffer.add((fetched, label))

    with run_worker(canvas_app):
        chain(FetchJob.s(7), UseJob.s("label")).delay()
        wait_for(lambda: aj_job_buffer.values, timeout=30)
    assert aj_job_buffer.values == [({"fetched": 7}, "label")]


def test_a_group_of_ten_jobs_with_results(canvas_app):
    class SquareJob(ApplicationJob):
        store_result = True

        def perform(self, number):
            return number * number

    with run_worker(canvas_app):
        result = group(SquareJob.s(n) for n in range(10)).delay()
        assert result.get(timeout=60) == [n * n for n in range(10)]


def test_a_chord_callback_job_sums_the_jobs_results(canvas_app):
    class PartJob(ApplicationJob):
        store_result = True

        def perform(self, number):
            return number + 1

    class SumJob(ApplicationJob):
        store_result = True

        def perform(self, results, offset):
            return sum(results) + offset

    with run_worker(canvas_app):
        result = chord(PartJob.s(n) for n in range(5))(SumJob.s(100))
        assert result.get(timeout=60) == 1 + 2 + 3 + 4 + 5 + 100


def test_plain_tasks_and_jobs_mixed_in_a_chain(canvas_app, aj_job_buffer):
    @canvas_app.task(name="tests.canvas.double", ignore_result=False)
    def double(number: int) -> int:
        return number * 2

    class AddJob(ApplicationJob):
        store_result = True

        def perform(self, number, extra):
            return number + extra

    with run_worker(canvas_app):
        result = chain(double.s(5), AddJob.s(1), double.s()).delay()
        assert result.get(timeout=60) == (5 * 2 + 1) * 2


@pytest.mark.parametrize("wait", [0, 1], ids=["at-once", "through-the-scheduled-set"])
def test_a_job_that_retries_inside_a_chain_passes_on_its_final_result(
    canvas_app, aj_job_buffer, wait
):
    class FlakyJob(ApplicationJob):
        retry_on(Flaky, wait=wait, attempts=5, jitter=0)

        def perform(self, number):
            aj_job_buffer.add(("flaky", self.executions))
            if self.executions < 3:
                raise Flaky("again")
            return number * 10

    class LastJob(ApplicationJob):
        def perform(self, number):
            aj_job_buffer.add(("last", number))

    with run_worker(canvas_app):
        chain(FlakyJob.s(4), LastJob.s()).delay()
        wait_for(lambda: ("last", 40) in aj_job_buffer.values, timeout=30)
    assert aj_job_buffer.values == [("flaky", 1), ("flaky", 2), ("flaky", 3), ("last", 40)]


def test_a_signature_carries_a_call_with_encoded_arguments(canvas_app):
    class ShapeJob(ApplicationJob):
        def perform(self, *args, **kwargs):
            pass

    sig = ShapeJob.s(1, "two", flag=True)
    assert sig.task == ShapeJob.job_name
    assert sig.options["queue"] == "default"
    [call] = sig.args
    assert call == {
        CALL_KEY: ShapeJob.job_name,
        "args": [1, "two"],
        "kwargs": [{"flag": True, "_aj_kwargs": ["flag"]}],
    }
    assert ShapeJob.si().immutable and not sig.immutable


def test_a_chord_waits_for_a_retried_part_and_sums_its_final_result(canvas_app):
    class SometimesFlakyJob(ApplicationJob):
        store_result = True
        retry_on(Flaky, wait=0, attempts=5)

        def perform(self, number):
            if number == 2 and self.executions < 2:
                raise Flaky("once")
            return number * 10

    class TotalJob(ApplicationJob):
        store_result = True

        def perform(self, results):
            return sorted(results)

    with run_worker(canvas_app):
        result = chord(SometimesFlakyJob.s(n) for n in range(4))(TotalJob.s())
        assert result.get(timeout=60) == [0, 10, 20, 30]


def test_a_discarded_job_fails_the_rest_of_its_chain(canvas_app, aj_job_buffer):
    from activejob_celery.rescue import discard_on

    class DiscardedJob(ApplicationJob):
        store_result = True  # Celery stores a failure for the chain only when results are kept
        discard_on(Flaky)

        def perform(self):
            raise Flaky("discarded")

    class NeverJob(ApplicationJob):
        def perform(self, *args):
            aj_job_buffer.add("ran")

    with run_worker(canvas_app):
        result = chain(DiscardedJob.si(), NeverJob.s()).delay()
        with pytest.raises(Flaky):
            result.get(timeout=30)
    assert aj_job_buffer.values == []
