"""What a job task's run returns to Celery: its result, once per job, and canvas links kept.

A run ends in one of four ways, and Celery hears of each as it would of a task's:

- ``perform`` returned: with results on (``store_result``) or inside a canvas, the task returns
  the value encoded by the job's argument serializers, so Celery stores it and passes it on
  (chain, chord); a final run that was a retry also stores it under the first enqueue's id.
- the job was re-enqueued (``retry_on``, or ``retry_job`` in a rescue): nothing is stored; in a
  canvas the run ends with Celery's ``Ignore`` and the retry's message carries the canvas links,
  so the chain continues, or the chord counts this job, only after its final run.
- the job was discarded (``discard_on``, an exhausted ``retry_on`` with a block): with results
  on or in a canvas, the error is stored as the task's FAILURE (a chord or chain fails as with a
  failed task); without, nothing is stored.
- the error escaped: the FAILURE is stored as for any task.

Whatever is stored goes under the first enqueue's task id only (a retry carries it), once.

Example:
    >>> run_in_task(task, payload, run_payload)               # doctest: +SKIP
    3
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import states
from celery.exceptions import Ignore

from .canvas import canvas_options, retrying_within
from .results import encode_result, keep_eager, wants_results

Runner = Callable[..., Any]


def run_in_task(task: Any, payload: Any, runner: Runner, *, signed: bool = False) -> Any:
    """Run ``payload`` with ``runner`` (``run_payload``) in ``task``; return the task's value.

    ``signed``: the run is a signature's (``Job.s``/``Job.si``), so its value is passed on even
    where Celery runs the canvas in the caller (eager mode, ``sig.apply()``).

    Example:
        >>> run_in_task(app.tasks[TotalJob.job_name], payload, run_payload)  # doctest: +SKIP
    """
    request = task.request
    task_id = str(request.id)
    result_id = _result_id(payload, task_id)
    storing = wants_results(task.job_class)
    eager = bool(getattr(request, "is_eager", False))
    links = canvas_options(request)
    seen: list[Any] = []
    try:
        with retrying_within(links):
            value = runner(payload, task=task, seen=seen)
    except Exception as error:
        if storing and not eager and result_id != task_id:
            request.ignore_result = True  # stored once, under the first enqueue's id
            task.backend.store_result(result_id, error, states.FAILURE)
        raise
    job = seen[0]
    if isinstance(value, BaseException):
        return _handled(task, job, value, result_id, storing=storing, links=bool(links))
    if not (storing or links or signed):
        return None  # the job's own return value is not a Celery result
    encoded = encode_result(job, value)
    if storing:
        if eager:
            keep_eager(result_id, encoded)
        elif result_id != task_id:
            request.ignore_result = True  # stored once, under the first enqueue's id
            task.backend.store_result(result_id, encoded, states.SUCCESS)
    return encoded


def _handled(
    task: Any, job: Any, error: BaseException, result_id: str, *, storing: bool, links: bool
) -> None:
    """A run whose error a handler took: retried, discarded, or rescued."""
    request = task.request
    task_id = str(request.id)
    eager = bool(getattr(request, "is_eager", False))
    if job.successfully_enqueued:  # re-enqueued: its final run stores the result
        request.ignore_result = True
        if links:
            raise Ignore()
        return None
    if job.failure_reason in ("discarded", "exhausted"):
        request.ignore_result = True
        if eager:
            if storing:
                keep_eager(result_id, error)
            return None
        if storing or links:  # under the first id; the chord counts this run, the chain fails
            task.backend.mark_as_failure(result_id, error, request=request, store_result=storing)
        if links:
            raise Ignore()
        return None
    # rescue_from handled it: the job ran, and returned nothing.
    if storing:
        if eager:
            keep_eager(result_id, None)
        elif result_id != task_id:
            request.ignore_result = True
            task.backend.store_result(result_id, None, states.SUCCESS)
    return None


def _result_id(payload: Any, task_id: str) -> str:
    """Where the job's result goes: its first enqueue's task id (a retry carries it)."""
    found = payload.get("result_id") if isinstance(payload, dict) else None
    return found if isinstance(found, str) and found else task_id
