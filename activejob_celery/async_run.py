"""``async def perform``: the event loop a job runs on and its callback chain, awaited.

A job is async when its ``perform`` or one of its perform callbacks is a coroutine function
(an async ``around_perform`` is an async generator that yields once). The whole run — callbacks
and ``perform`` — is one coroutine, run to completion with ``run_until_complete`` on the event
loop of the calling thread: one loop per worker process (per thread on the threads pool), kept
between jobs and closed when the worker (process) shuts down or the thread ends. Outside a
worker each run gets a fresh loop (``asyncio.run``'s behaviour). Callbacks keep Rails' order
(see :mod:`.callbacks`). The loops themselves are :mod:`.async_loops`'.

Example:
    >>> class FetchJob(ApplicationJob):                       # doctest: +SKIP
    ...     async def perform(self, url):
    ...         async with httpx.AsyncClient() as client:
    ...             await client.get(url)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from . import timeouts
from .async_loops import job_loop, shared_loop
from .callbacks import HALTED, Callback
from .errors import Abort


def is_async(perform: Callable[..., Any], callbacks: tuple[Callback, ...]) -> bool:
    """Whether a run needs the event loop: ``perform`` or a callback is a coroutine function.

    Example:
        >>> async def perform(self): ...
        >>> is_async(perform, ())
        True
    """
    if inspect.iscoroutinefunction(perform):
        return True
    return any(
        inspect.iscoroutinefunction(each.function) or inspect.isasyncgenfunction(each.function)
        for each in callbacks
    )


def run_coroutine(coroutine: Awaitable[Any]) -> Any:
    """Run ``coroutine`` to completion from sync code, on the loop this module describes.

    Called from a thread whose loop is running (``perform_now`` inside async code), the run
    happens on a fresh loop in a helper thread while the caller waits.

    Example:
        >>> async def answer(): return 42
        >>> run_coroutine(answer())
        42
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        shared = shared_loop()
        if shared is not None:  # every pool thread hands its job to the one loop thread, waits
            return asyncio.run_coroutine_threadsafe(_wrap(coroutine), shared).result()
        if timeouts.pool() is None:
            return asyncio.run(_wrap(coroutine))
        return job_loop().run_until_complete(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as helper:
        return helper.submit(asyncio.run, _wrap(coroutine)).result()


def settle(value: Any) -> Any:
    """``value``, or its result when awaitable (an async ``after_discard`` or handler).

    Example:
        >>> settle(42)
        42
    """
    return run_coroutine(value) if inspect.isawaitable(value) else value


async def _wrap(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def run_job(job: Any, callbacks: tuple[Callback, ...], body: Callable[[], Any]) -> Any:
    """Run ``body`` (which may return an awaitable) inside ``callbacks`` on the job loop.

    Returns the body's value, or ``HALTED``; the job's ``timeout`` raises ``JobTimeoutError``.

    Example:
        >>> run_job(job, type(job)._perform_callbacks, lambda: job.perform())  # doctest: +SKIP
    """
    return run_coroutine(_run_with_timeout(job, callbacks, body))


async def _run_with_timeout(
    job: Any, callbacks: tuple[Callback, ...], body: Callable[[], Any]
) -> Any:
    seconds = timeouts.timeout_seconds(job)
    task = asyncio.current_task()
    fired: list[bool] = []
    handle = None
    if seconds is not None and task is not None:
        handle = asyncio.get_running_loop().call_later(seconds, _expire, task, fired)

    async def awaited_body() -> Any:
        try:
            value = body()
            return await value if inspect.isawaitable(value) else value
        except asyncio.CancelledError:
            if fired:
                raise timeouts.timed_out(job, seconds) from None
            raise

    try:
        return await _run(job, callbacks, 0, awaited_body)
    except asyncio.CancelledError:
        if fired:  # cancelled in a callback, outside perform
            raise timeouts.timed_out(job, seconds) from None
        raise
    finally:
        if handle is not None:
            handle.cancel()
        if fired and task is not None and hasattr(task, "uncancel"):
            task.uncancel()  # Python >= 3.11: the cancel was ours, not the caller's


def _expire(task: asyncio.Task[Any], fired: list[bool]) -> None:
    fired.append(True)
    task.cancel()


async def _call(function: Callable[..., Any], job: Any) -> Any:
    value = function(job)
    return await value if inspect.isawaitable(value) else value


async def _run(
    job: Any, callbacks: tuple[Callback, ...], index: int, body: Callable[[], Awaitable[Any]]
) -> Any:
    if index == len(callbacks):
        return await body()
    callback = callbacks[index]
    if callback.kind == "before":
        try:
            await _call(callback.function, job)
        except Abort:
            return HALTED
        return await _run(job, callbacks, index + 1, body)
    if callback.kind == "after":
        result = await _run(job, callbacks, index + 1, body)
        if result is not HALTED:
            await _call(callback.function, job)
        return result
    generator = callback.function(job)
    if inspect.isasyncgen(generator):
        return await _around_async(job, generator, callbacks, index, body)
    return await _around_sync(job, generator, callbacks, index, body)


async def _around_async(
    job: Any, generator: Any, callbacks: tuple[Callback, ...], index: int, body: Any
) -> Any:
    try:
        await generator.__anext__()
    except StopAsyncIteration:
        return None  # never yielded: the body is skipped, as in Rails
    except Abort:
        return HALTED
    try:
        result = await _run(job, callbacks, index + 1, body)
    except BaseException as error:
        try:
            await generator.athrow(error)
        except StopAsyncIteration:
            return None  # the around callback swallowed the error
        raise RuntimeError("an around callback yielded more than once") from error
    try:
        await generator.asend(None if result is HALTED else result)
    except StopAsyncIteration:
        return result
    raise RuntimeError("an around callback yielded more than once")


async def _around_sync(
    job: Any, generator: Any, callbacks: tuple[Callback, ...], index: int, body: Any
) -> Any:
    try:
        next(generator)
    except StopIteration:
        return None
    except Abort:
        return HALTED
    try:
        result = await _run(job, callbacks, index + 1, body)
    except BaseException as error:
        try:
            generator.throw(error)
        except StopIteration:
            return None
        raise RuntimeError("an around callback yielded more than once") from error
    try:
        generator.send(None if result is HALTED else result)
    except StopIteration:
        return result
    raise RuntimeError("an around callback yielded more than once")
