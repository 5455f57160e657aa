"""``async def perform``: the awaited callback chain, Rails' error handling, timeouts, the loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from activejob_celery import (
    Abort,
    ApplicationJob,
    JobTimeoutError,
    after_discard,
    after_perform,
    around_perform,
    before_perform,
    discard_on,
    rescue_from,
    retry_on,
    timeouts,
)
from activejob_celery.async_loops import (
    close_loops,
    job_loop,
    start_shared_loop,
    stop_shared_loop,
    sync_gate,
)
from activejob_celery.async_run import run_coroutine
from activejob_celery.testing import TestAdapter

seen: list[Any] = []


class Boom(Exception):
    pass


class CallbackAsyncJob(ApplicationJob):
    @before_perform
    async def first(self) -> None:
        await asyncio.sleep(0)
        seen.append("before async")

    @before_perform
    def second(self) -> None:
        seen.append("before sync")

    @around_perform
    async def wrapped(self) -> AsyncIterator[None]:
        seen.append("around async in")
        result = yield
        seen.append(f"around async out {result}")

    @around_perform
    def wrapped_sync(self) -> Iterator[None]:
        seen.append("around sync in")
        yield
        seen.append("around sync out")

    @after_perform
    async def after(self) -> None:
        seen.append("after async")

    async def perform(self, value: int) -> int:
        await asyncio.sleep(0.01)
        seen.append(f"perform {value}")
        return value * 2


class RetriedAsyncJob(ApplicationJob):
    retry_on(Boom, wait=5, attempts=3, jitter=0)

    async def perform(self) -> None:
        seen.append(self.executions)
        raise Boom("async failure")


class DiscardedAsyncJob(ApplicationJob):
    discard_on(Boom)

    @after_discard
    async def noted(self, error: Exception) -> None:
        seen.append(f"after_discard {error}")

    async def perform(self) -> None:
        raise Boom("dropped")


class RescuedAsyncJob(ApplicationJob):
    @rescue_from(Boom)
    def rescued(self, error: Exception) -> None:
        seen.append(f"rescued {error}")

    async def perform(self) -> None:
        raise Boom("caught")


class HaltedAsyncJob(ApplicationJob):
    @before_perform
    async def stop(self) -> None:
        raise Abort

    async def perform(self) -> None:
        seen.append("never")


class SlowAsyncJob(ApplicationJob):
    timeout = 0.2
    retry_on(JobTimeoutError, wait=5, attempts=2, jitter=0)

    @around_perform
    async def watched(self) -> AsyncIterator[None]:
        try:
            yield
        except JobTimeoutError:
            seen.append("around saw JobTimeoutError")
            raise

    async def perform(self) -> None:
        await asyncio.sleep(20)
        seen.append("finished")


class LoopJob(ApplicationJob):
    async def perform(self) -> int:
        return id(asyncio.get_running_loop())


@pytest.fixture(autouse=True)
def _clean(aj_adapter: TestAdapter) -> Iterator[None]:
    seen.clear()
    yield
    timeouts.set_pool(None)


def test_async_perform_runs_with_sync_and_async_callbacks_in_rails_order() -> None:
    assert CallbackAsyncJob.perform_now(21) == 42
    assert seen == [
        "before async",
        "before sync",
        "around async in",
        "around sync in",
        "perform 21",
        "after async",  # declared after both arounds: they wrap it (Rails)
        "around sync out",
        "around async out 42",
    ]


def test_retry_on_retries_an_async_job(aj_adapter: TestAdapter) -> None:
    RetriedAsyncJob.perform_now()
    assert seen == [1]
    assert [record["job"] for record in aj_adapter.enqueued_jobs] == [RetriedAsyncJob]


def test_discard_on_runs_an_async_after_discard() -> None:
    DiscardedAsyncJob.perform_now()
    assert seen == ["after_discard dropped"]


def test_rescue_from_handles_an_async_job_error() -> None:
    RescuedAsyncJob.perform_now()
    assert seen == ["rescued caught"]


class AsyncHandlerJob(ApplicationJob):
    @rescue_from(Boom)
    async def rescued(self, error: Exception) -> None:
        await asyncio.sleep(0)
        seen.append(f"async rescued {error}")

    def perform(self) -> None:
        raise Boom("sync perform")


def test_an_async_rescue_handler_is_awaited() -> None:
    AsyncHandlerJob.perform_now()
    assert seen == ["async rescued sync perform"]


def test_abort_in_an_async_before_callback_halts() -> None:
    assert HaltedAsyncJob.perform_now() is False
    assert seen == []


def test_the_timeout_of_an_async_job_raises_job_timeout_error_inside_perform(
    aj_adapter: TestAdapter,
) -> None:
    SlowAsyncJob.perform_now()
    assert seen == ["around saw JobTimeoutError"]
    assert [record["job"] for record in aj_adapter.enqueued_jobs] == [SlowAsyncJob]


def test_in_a_worker_the_loop_is_kept_between_jobs_and_closed_at_shutdown() -> None:
    timeouts.set_pool("solo")
    first, second = LoopJob.perform_now(), LoopJob.perform_now()
    assert first == second == id(job_loop())
    loop = job_loop()
    assert close_loops() >= 1
    assert loop.is_closed()


def test_the_loop_of_a_pool_thread_is_closed_when_the_thread_ends() -> None:
    timeouts.set_pool("threads")
    made: list[Any] = []
    thread = threading.Thread(target=lambda: made.append(job_loop()))
    thread.start()
    thread.join()
    gc.collect()
    assert made[0].is_closed()  # not left open until shutdown, nor to the garbage collector


def test_loops_of_many_short_threads_are_not_kept() -> None:
    timeouts.set_pool("threads")
    made: list[Any] = []
    for _ in range(20):
        thread = threading.Thread(target=lambda: made.append(weakref.ref(job_loop())))
        thread.start()
        thread.join()
    gc.collect()
    assert [each() for each in made] == [None] * 20


def test_outside_a_worker_each_run_gets_its_own_loop() -> None:
    loop = job_loop()
    assert LoopJob.perform_now() != id(loop)


def test_perform_now_from_async_code_runs_the_job() -> None:
    async def caller() -> int:
        return CallbackAsyncJob.perform_now(2)  # type: ignore[no-any-return]

    assert asyncio.run(caller()) == 4
    assert "perform 2" in seen


def test_run_coroutine_returns_the_value() -> None:
    async def answer() -> int:
        return 42

    assert run_coroutine(answer()) == 42


def test_with_the_loop_thread_every_thread_runs_async_jobs_on_one_loop() -> None:
    loop = start_shared_loop()
    try:
        ids: list[int] = []
        threads = [threading.Thread(target=lambda: ids.append(LoopJob.perform_now())) for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert ids == [id(loop), id(loop)]
        SlowAsyncJob.perform_now()  # the timeout works on the loop thread too
        assert seen == ["around saw JobTimeoutError"]
        assert isinstance(sync_gate(), type(threading.Lock()))  # sync jobs: one at a time
    finally:
        stop_shared_loop()
    assert loop.is_closed()
    assert not isinstance(sync_gate(), type(threading.Lock()))
