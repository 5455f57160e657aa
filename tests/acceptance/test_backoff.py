"""Delays per attempt for every ``wait`` kind, with and without jitter (activejob-spec.md §1.3).

Each row runs a job that always fails through a recording test adapter with the clock frozen
and ``U`` (Rails' ``Kernel.rand``) stubbed, and reads the delay of every scheduled retry from the
adapter record's ``at``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import Celery

from activejob_celery import (
    EXPONENTIALLY_LONGER,
    POLYNOMIALLY_LONGER,
    UNLIMITED,
    ApplicationJob,
    ConfigurationError,
    Exponential,
    Polynomial,
    retry_on,
)
from activejob_celery.backoff import Fixed
from activejob_celery.config import Settings, use_settings
from activejob_celery.testing import TestAdapter

PAYLOAD_KEYS = (
    "job_class", "job_id", "provider_job_id", "queue_name", "priority", "arguments",
    "executions", "exception_executions", "locale", "timezone", "enqueued_at", "scheduled_at",
)  # fmt: skip


class Flaky(Exception):
    """The error every job here raises; its message is two characters long."""


def run_until_exhausted(
    adapter: TestAdapter, now: datetime, job_class: type[ApplicationJob], limit: int = 50
) -> list[float | None]:
    """Run ``job_class`` and each retry it schedules; return each retry's delay in seconds."""
    delays: list[float | None] = []
    job_class.perform_now()
    while adapter.enqueued_jobs and len(delays) < limit:
        record = adapter.enqueued_jobs.pop(0)
        at = record["at"]
        delays.append(None if at is None else round(at - now.timestamp(), 6))
        try:
            ApplicationJob.execute({key: record[key] for key in PAYLOAD_KEYS})  # type: ignore[misc]
        except Flaky:
            break
    return delays


def flaky_job(adapter: TestAdapter, **options: Any) -> type[ApplicationJob]:
    class FlakyJob(ApplicationJob):
        queue_adapter = adapter
        retry_on(Flaky, **options)

        def perform(self) -> None:
            raise Flaky("xx")

    return FlakyJob


ROWS: list[tuple[str, dict[str, Any], float, list[float]]] = [
    ("default 3 s, jitter 0", {"jitter": 0}, 1.0, [3, 3, 3, 3]),
    ("default 3 s, jitter 0.15, U=1", {"jitter": 0.15}, 1.0, [3.45] * 4),
    ("int 10, jitter 0.15, U=0.5", {"wait": 10, "jitter": 0.15}, 0.5, [10.75] * 4),
    ("float 2.5, jitter 0.15, U=0.5", {"wait": 2.5, "jitter": 0.15}, 0.5, [2.6875] * 4),
    ("timedelta 30 s, jitter 0", {"wait": timedelta(seconds=30), "jitter": 0}, 1.0, [30] * 4),
    ("timedelta 1.5 s (Rails 8.2 keeps fractions)", {"wait": timedelta(milliseconds=1500),
     "jitter": None}, 1.0, [1.5] * 4),
    ("POLYNOMIALLY_LONGER, jitter 0", {"wait": POLYNOMIALLY_LONGER, "jitter": 0}, 1.0,
     [3, 18, 83, 258]),
    ("POLYNOMIALLY_LONGER, jitter 0.15, U=1", {"wait": POLYNOMIALLY_LONGER, "jitter": 0.15}, 1.0,
     [3.15, 20.4, 95.15, 296.4]),
    ("POLYNOMIALLY_LONGER, jitter 4, U=1", {"wait": POLYNOMIALLY_LONGER, "jitter": 4.0}, 1.0,
     [7, 82, 407, 1282]),
    ("EXPONENTIALLY_LONGER (Rails' symbol), jitter 0", {"wait": EXPONENTIALLY_LONGER,
     "jitter": 0}, 1.0, [3, 18, 83, 258]),
    ("EXPONENTIALLY_LONGER, jitter 0.15, U=1", {"wait": EXPONENTIALLY_LONGER, "jitter": 0.15},
     1.0, [3.15, 20.4, 95.15, 296.4]),
    ("Exponential(), jitter 0", {"wait": Exponential(), "jitter": 0}, 1.0, [3, 6, 12, 24]),
    ("Exponential(3, 2), jitter 0.15, U=1",
     {"wait": Exponential(base=3, factor=2, max_wait=None), "jitter": 0.15}, 1.0,
     [3.45, 6.9, 13.8, 27.6]),
    ("Exponential(1, 10, max_wait=60), jitter 0.5, U=1",
     {"wait": Exponential(base=1, factor=10, max_wait=60), "jitter": 0.5}, 1.0,
     [1.5, 15, 60, 60]),
    ("Polynomial(2, 1), jitter 0", {"wait": Polynomial(exponent=2, offset=1), "jitter": 0}, 1.0,
     [2, 5, 10, 17]),
    ("Polynomial(2, 1), jitter 1, U=1", {"wait": Polynomial(exponent=2, offset=1), "jitter": 1},
     1.0, [3, 9, 19, 33]),
    ("f(n) = 2n, never jittered", {"wait": lambda n: n * 2, "jitter": 4.0}, 1.0, [2, 4, 6, 8]),
    ("f(n, error) = len(message) + n, never jittered",
     {"wait": lambda n, error: len(str(error)) + n, "jitter": 4.0}, 1.0, [3, 4, 5, 6]),
    ("f(n) returning a timedelta", {"wait": lambda n: timedelta(seconds=n)}, 1.0, [1, 2, 3, 4]),
]  # fmt: skip


@pytest.mark.parametrize(("wait", "options", "u", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_delay_per_attempt(
    aj_recording_adapter: TestAdapter,
    aj_frozen_clock: datetime,
    aj_rand: Callable[[float], None],
    wait: str,
    options: dict[str, Any],
    u: float,
    expected: list[float],
) -> None:
    """activejob-spec §1.3 table; Rails' exceptions_test "polynomially retrying job includes
    jitter", "custom wait retrying job", "custom wait proc can use the error"; the
    ``EXPONENTIALLY_LONGER`` rows are Rails' ``:exponentially_longer`` (n**4 + 2) and the
    ``Exponential`` rows a true exponential (DESIGN.md §1, §7)."""
    aj_rand(u)
    job_class = flaky_job(aj_recording_adapter, attempts=5, **options)
    assert run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class) == expected


def test_default_jitter_comes_from_the_setting(
    aj_recording_adapter: TestAdapter, aj_frozen_clock: datetime, aj_rand: Callable[[float], None]
) -> None:
    """Rails: "retry jitter uses value from ActiveJob::Base.retry_jitter by default"; here the
    Celery key ``activejob_retry_jitter``, read when the retry is scheduled (rails/rails#37923)."""
    aj_rand(1.0)
    job_class = flaky_job(aj_recording_adapter, wait=POLYNOMIALLY_LONGER, attempts=5)
    app = Celery("aj_jitter", set_as_current=False)
    app.conf.activejob_retry_jitter = 4.0
    use_settings(Settings.from_app(app))
    assert run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class) == [
        7,
        82,
        407,
        1282,
    ]


def test_the_default_setting_is_0_15(
    aj_recording_adapter: TestAdapter, aj_frozen_clock: datetime, aj_rand: Callable[[float], None]
) -> None:
    """activejob-spec §1.3: modern Rails apps run with ``retry_jitter = 0.15``: [3, 3.45)."""
    aj_rand(1.0)
    job_class = flaky_job(aj_recording_adapter, attempts=2)
    assert run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class) == [3.45]


@pytest.mark.parametrize("jitter", [None, 0, 0.0])
def test_jitter_none_or_zero_overrides_the_setting(
    aj_recording_adapter: TestAdapter,
    aj_frozen_clock: datetime,
    aj_rand: Callable[[float], None],
    aj_jitter: Callable[[float], None],
    jitter: float | None,
) -> None:
    """Rails: "retry jitter disabled with nil" / "with zero" (rails/rails#37990, #38003)."""
    aj_jitter(4.0)
    aj_rand(1.0)
    job_class = flaky_job(aj_recording_adapter, attempts=3, jitter=jitter)
    assert run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class) == [3, 3]


def test_real_jitter_stays_inside_its_range(
    aj_recording_adapter: TestAdapter, aj_frozen_clock: datetime
) -> None:
    """activejob-spec §1.3: ``n**4 + U * n**4 * j + 2`` with U in [0, 1): [3, 3.15), [18, 20.4),
    [83, 95.15), [258, 296.4) at jitter 0.15."""
    job_class = flaky_job(aj_recording_adapter, wait=POLYNOMIALLY_LONGER, jitter=0.15)
    delays = run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class)
    ranges = [(3, 3.15), (18, 20.4), (83, 95.15), (258, 296.4)]
    assert len(delays) == 4
    for delay, (low, high) in zip(delays, ranges, strict=True):
        assert delay is not None and low <= delay < high


def test_a_callable_returning_none_enqueues_at_once(
    aj_recording_adapter: TestAdapter, aj_frozen_clock: datetime, aj_log: Any
) -> None:
    """activejob-spec §1.3: a proc returning nil retries at once with a plain (unscheduled)
    enqueue; the log reads "in 0 seconds"."""
    job_class = flaky_job(aj_recording_adapter, wait=lambda n: None, attempts=3)
    assert run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class) == [None, None]
    assert any("after 1 attempts in 0 seconds, due to a Flaky (xx)." in line for line in aj_log())


@pytest.mark.parametrize("attempts", [0, 1])
def test_attempts_one_or_zero_never_retries(
    aj_recording_adapter: TestAdapter, aj_frozen_clock: datetime, attempts: int
) -> None:
    """activejob-spec §1.1: ``attempts`` counts the first run; 1 (or 0) means never retried."""
    job_class = flaky_job(aj_recording_adapter, attempts=attempts)
    with pytest.raises(Flaky):
        job_class.perform_now()
    assert aj_recording_adapter.enqueued_jobs == []


def test_attempts_unlimited_keeps_retrying(
    aj_recording_adapter: TestAdapter, aj_frozen_clock: datetime
) -> None:
    """Rails: "successfully retry job throwing UnlimitedRetryError a few times"."""
    job_class = flaky_job(aj_recording_adapter, attempts=UNLIMITED, jitter=0)
    delays = run_until_exhausted(aj_recording_adapter, aj_frozen_clock, job_class, limit=25)
    assert delays == [3] * 25


def test_strategy_objects_compute_the_table_directly() -> None:
    """The wait objects on their own, at jitter 0 (DESIGN.md §7 backoff row)."""
    assert [POLYNOMIALLY_LONGER.delay(n, None, 0) for n in range(1, 7)] == [
        3,
        18,
        83,
        258,
        627,
        1298,
    ]
    assert [EXPONENTIALLY_LONGER.delay(n, None, 0) for n in range(1, 5)] == [3, 18, 83, 258]
    assert [Exponential().delay(n, None, 0) for n in range(1, 6)] == [3, 6, 12, 24, 48]
    assert Exponential(base=2, factor=3, max_wait=50).delay(4, None, 0) == 50
    assert Fixed(3).delay(1, None, 0.15) >= 3


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("a string wait", {"wait": "soon"}, "wait='soon' is not a supported wait"),
    ("a negative wait", {"wait": -1}, "wait=-1 must not be negative"),
    ("a boolean wait", {"wait": True}, "wait=True is not a supported wait"),
    ("None as wait", {"wait": None}, "wait=None is not a supported wait"),
    ("a callable of three arguments", {"wait": lambda a, b, c: 1}, "takes (executions)"),
    ("negative attempts", {"attempts": -1}, "attempts=-1"),
    ("float attempts", {"attempts": 1.5}, "attempts=1.5"),
    ("string attempts", {"attempts": "lots"}, "attempts='lots'"),
    ("boolean attempts", {"attempts": True}, "attempts=True"),
    ("negative jitter", {"jitter": -0.1}, "jitter=-0.1"),
    ("string jitter", {"jitter": "0.1"}, "jitter='0.1'"),
    ("boolean jitter", {"jitter": True}, "jitter=True"),
]


@pytest.mark.parametrize(("case", "options", "message"), INVALID, ids=[r[0] for r in INVALID])
def test_invalid_options_fail_when_the_class_body_runs(
    case: str, options: dict[str, Any], message: str
) -> None:
    """rails/rails#57727: an unsupported ``wait`` failed only at retry time, inside the
    handler, replacing the real error. Every option is checked when the class body runs."""
    with pytest.raises(ConfigurationError) as caught:

        class InvalidJob(ApplicationJob):
            retry_on(Flaky, **options)

            def perform(self) -> None: ...

    assert message in str(caught.value)
    assert "retry_on(Flaky)" in str(caught.value)


def test_invalid_strategy_objects_fail_on_construction() -> None:
    """rails/rails#57727 again: a bad backoff object fails where it is built, not at retry."""
    with pytest.raises(ConfigurationError, match="factor"):
        Exponential(factor=0.5)
    with pytest.raises(ConfigurationError, match="max_wait"):
        Exponential(max_wait=-1)
    with pytest.raises(ConfigurationError, match="exponent"):
        Polynomial(exponent=-1)
