"""Rails' ``rescue_test.rb`` and ``activesupport/test/rescuable_test.rb``, plus handler precedence.

One table per class holds every ``rescue_from``, ``retry_on`` and ``discard_on``; it is searched
newest first (the last matching declaration wins), then along ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    DeserializationError,
    discard_on,
    rescue_from,
    retry_on,
)
from activejob_celery.global_id import GlobalID, add_locator, remove_locator
from activejob_celery.rescue import exception_key
from activejob_celery.testing import TestAdapter
from tests.acceptance.jobs import BUFFER, RescueJob


@pytest.fixture(autouse=True)
def aj_rescue_setup(aj_inline_adapter: TestAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    BUFFER.clear()
    for job_class in (RescueJob, Stargate):
        monkeypatch.setattr(job_class, "queue_adapter", aj_inline_adapter)


class Person:
    def __init__(self, person_id: int) -> None:
        self.id = person_id

    def to_global_id(self) -> GlobalID:
        return GlobalID("aj", "Person", self.id)


@pytest.fixture
def aj_people() -> Iterator[None]:
    add_locator("aj", lambda gid: None)
    yield
    remove_locator("aj")


# --- activejob/test/cases/rescue_test.rb -------------------------------------------------------


def test_rescue_perform_exception_with_retry() -> None:
    """Rails: "rescue perform exception with retry": the handler mutates the arguments and
    calls ``retry_job``; the retry runs with the mutated arguments."""
    RescueJob("david").perform_now()
    assert BUFFER.values == [
        "rescued from ValueError",
        "performed beautifully",
        "Retried job DIFFERENT!",
    ]


def test_let_through_unhandled_perform_exception() -> None:
    """Rails: "let through unhandled perform exception"."""
    with pytest.raises(RescueJob.OtherError):
        RescueJob("other").perform_now()


def test_rescue_from_deserialization_errors(aj_people: None) -> None:
    """Rails: "rescue from deserialization errors": the original error is the ``__cause__``."""
    RescueJob.perform_later(Person(404))
    assert "rescued from DeserializationError" in BUFFER.values
    assert "DeserializationError original exception was LookupError" in BUFFER.values
    assert "performed beautifully" not in BUFFER.values


def test_deserialization_error_is_not_wrapped_twice(aj_people: None) -> None:
    """Rails: "should not wrap DeserializationError in DeserializationError" (nested list)."""
    RescueJob.perform_later([Person(404)])
    assert "DeserializationError original exception was LookupError" in BUFFER.values


def test_rescue_from_any_exception_subclass() -> None:
    """Rails: "rescue from exceptions that don't inherit from StandardError"; handlers match any
    ``Exception`` subclass, whatever family it belongs to."""
    RescueJob.perform_later("rafael")
    assert BUFFER.values == ["rescued from ArithmeticError"]


def test_base_exceptions_outside_exception_pass_through(aj_recording_adapter: TestAdapter) -> None:
    """Deviation: Rails rescues ``Exception`` (its root); Python's root is ``BaseException``, but
    ``KeyboardInterrupt``/``SystemExit`` must stop a worker, so only ``Exception`` is rescued."""

    class Interrupted(BaseException): ...

    class InterruptJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        rescue_from(BaseException, with_=lambda job, error: BUFFER.add("rescued"))

        def perform(self) -> None:
            raise Interrupted

    with pytest.raises(Interrupted):
        InterruptJob.perform_now()
    assert BUFFER.values == []


# --- activesupport/test/rescuable_test.rb --------------------------------------------------------


class WraithAttack(Exception): ...


class MadRonon(Exception): ...


class CoolError(Exception): ...


class Stargate(ApplicationJob, abstract=True):
    """Rails' ``Stargate``: handlers by method name, by decorated method, by callable."""

    result: Any = None

    rescue_from(WraithAttack, with_="sos_first")
    rescue_from(WraithAttack, with_="sos")

    @rescue_from(MadRonon)
    def ronon(self, error: Exception) -> None:
        self.result = str(error)

    def sos(self) -> None:
        self.result = "killed"

    def sos_first(self) -> None:
        self.result = "sos_first"


class StargateJob(Stargate):
    def perform(self, method: str) -> None:
        getattr(self, method)()

    def attack(self) -> None:
        raise WraithAttack

    def ronanize(self) -> None:
        raise MadRonon("dex")

    def crash(self) -> None:
        raise RuntimeError("unhandled RuntimeError")

    def fall_back_to_cause(self) -> None:
        try:
            self.ronanize()
        except MadRonon as error:
            raise RuntimeError("unhandled RuntimeError with a handleable cause") from error

    def looped_crash(self) -> None:
        first, second = RuntimeError("error 1"), RuntimeError("error 2")
        second.__cause__ = first
        first.__cause__ = second
        raise first


class CoolStargateJob(StargateJob):
    rescue_from(CoolError, with_="sos_cool_error")

    def sos_cool_error(self) -> None:
        self.result = "sos_cool_error"


def _dispatch(job_class: type[StargateJob], method: str) -> Any:
    job = job_class(method)
    try:
        job.perform_now()
    except Exception:
        return "unhandled"
    return job.result


def test_rescue_from_with_method() -> None:
    """Rails: ``test_rescue_from_with_method``; also "last declared wins": ``sos`` is declared
    after ``sos_first`` for the same class, so ``sos`` handles it."""
    assert _dispatch(StargateJob, "attack") == "killed"


def test_rescue_from_with_block_with_args() -> None:
    """Rails: ``test_rescue_from_with_block_with_args`` (the decorated method gets the error)."""
    assert _dispatch(StargateJob, "ronanize") == "dex"


def test_rescues_defined_later_are_added_at_the_end() -> None:
    """Rails: ``test_rescues_defined_later_are_added_at_end_of_the_rescue_handlers_array``."""
    names = [h.exceptions[0].__name__ for h in StargateJob._rescue_handlers]
    assert names == ["WraithAttack", "WraithAttack", "MadRonon"]


def test_children_inherit_rescue_definitions_and_append_their_own() -> None:
    """Rails: ``test_children_should_inherit_rescue_definitions_from_parents_and_child_rescue_
    should_be_appended``; the parent's table is copied, never mutated."""
    names = [h.exceptions[0].__name__ for h in CoolStargateJob._rescue_handlers]
    assert names == ["WraithAttack", "WraithAttack", "MadRonon", "CoolError"]
    assert len(StargateJob._rescue_handlers) == 3


def test_rescue_falls_back_to_exception_cause() -> None:
    """Rails: ``test_rescue_falls_back_to_exception_cause``."""
    assert _dispatch(StargateJob, "fall_back_to_cause") == "dex"


def test_unhandled_exceptions() -> None:
    """Rails: ``test_unhandled_exceptions``."""
    assert _dispatch(StargateJob, "crash") == "unhandled"


def test_rescue_handles_loops_in_exception_cause_chain() -> None:
    """Rails: ``test_rescue_handles_loops_in_exception_cause_chain``."""
    assert _dispatch(StargateJob, "looped_crash") == "unhandled"


def test_a_cause_match_hands_the_cause_to_the_handler_and_returns_it(
    aj_recording_adapter: TestAdapter,
) -> None:
    """activejob-spec §3: when a cause matches, the handler gets the **cause** and
    ``perform_now`` returns the cause."""
    seen: list[BaseException] = []

    class CauseJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        rescue_from(KeyError, with_=lambda job, error: seen.append(error))

        def perform(self) -> None:
            try:
                {}["missing"]
            except KeyError as error:
                raise RuntimeError("lookup failed") from error

    returned = CauseJob.perform_now()
    assert isinstance(returned, KeyError)
    assert seen == [returned]


def test_implicit_context_is_not_a_cause(aj_recording_adapter: TestAdapter) -> None:
    """Only the explicit ``raise ... from`` chain (``__cause__``) is searched, not the implicit
    ``__context__`` of an error raised while handling another."""

    class ContextJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        rescue_from(KeyError, with_=lambda job, error: None)

        def perform(self) -> None:
            try:
                {}["missing"]
            except KeyError:
                raise RuntimeError("while handling") from None

    with pytest.raises(RuntimeError):
        ContextJob.perform_now()


# --- Precedence: rails/rails#49406, #49413, #31764 ------------------------------------------------


class BaseError(Exception): ...


class SubError(BaseError): ...


def test_last_declared_handler_wins_discard_then_retry(aj_recording_adapter: TestAdapter) -> None:
    """rails/rails#49406: ``discard_on BaseError`` then ``retry_on SubError`` retries SubError."""

    class DiscardThenRetryJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        discard_on(BaseError)
        retry_on(SubError)

        def perform(self) -> None:
            raise SubError

    job = DiscardThenRetryJob()
    assert isinstance(job.perform_now(), SubError)
    assert len(aj_recording_adapter.enqueued_jobs) == 1
    assert job.failure_reason is None


def test_last_declared_handler_wins_retry_then_discard(aj_recording_adapter: TestAdapter) -> None:
    """rails/rails#49406, reversed: ``retry_on SubError`` then ``discard_on BaseError``
    discards SubError: the newest match wins, not the most specific."""

    class RetryThenDiscardJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        retry_on(SubError)
        discard_on(BaseError)

        def perform(self) -> None:
            raise SubError

    job = RetryThenDiscardJob()
    assert isinstance(job.perform_now(), SubError)
    assert aj_recording_adapter.enqueued_jobs == []
    assert job.failure_reason == "discarded"


def test_subclass_handler_beats_the_parent_specific_one(aj_recording_adapter: TestAdapter) -> None:
    """rails/rails#31764: a subclass's ``rescue_from(Exception)`` shadows a more specific
    handler inherited from the base job."""
    handled: list[str] = []

    class BaseJob(ApplicationJob, abstract=True):
        queue_adapter = aj_recording_adapter
        rescue_from(SubError, with_=lambda job, error: handled.append("parent specific"))

    class ChildJob(BaseJob):
        rescue_from(Exception, with_=lambda job, error: handled.append("child generic"))

        def perform(self) -> None:
            raise SubError

    ChildJob.perform_now()
    assert handled == ["child generic"]


def test_handler_raising_replaces_the_error_and_skips_other_handlers(
    aj_recording_adapter: TestAdapter,
) -> None:
    """activejob-spec §3: a handler that raises propagates that error straight out of
    ``perform_now``; no further lookup, no after_discard."""
    ran: list[str] = []

    class ReRaiseJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        rescue_from(Exception, with_=lambda job, error: ran.append("generic"))

        @rescue_from(KeyError)
        def wrap(self, error: Exception) -> None:
            raise LookupError("wrapped") from error

        def perform(self) -> None:
            raise KeyError("k")

    ReRaiseJob.after_discard(lambda job, error: ran.append("after_discard"))
    with pytest.raises(LookupError, match="wrapped"):
        ReRaiseJob.perform_now()
    assert ran == []


def test_rescue_from_needs_a_handler() -> None:
    """Rails raises ArgumentError when ``rescue_from`` has neither ``with:`` nor a block."""
    with pytest.raises(ConfigurationError, match="give with_= or use it as a method decorator"):

        class NoHandlerJob(ApplicationJob):
            rescue_from(KeyError)

            def perform(self) -> None: ...


def test_rescue_from_with_an_unknown_method_name_fails_at_class_creation() -> None:
    """Rails resolves ``with: :name`` when the error happens; here a typo fails at class
    creation, before any job runs."""
    with pytest.raises(ConfigurationError, match="has no method 'nope'"):

        class MissingMethodJob(ApplicationJob):
            rescue_from(KeyError, with_="nope")

            def perform(self) -> None: ...


def test_counter_keys_are_rails_array_inspects() -> None:
    """activejob-spec §1.2: the key of a declaration is its exception list as Ruby prints an
    array: builtins by name, other classes module-qualified."""
    assert exception_key((TimeoutError,)) == "[TimeoutError]"
    assert exception_key((ConnectionError, TimeoutError)) == "[ConnectionError, TimeoutError]"
    assert exception_key((SubError,)) == f"[{__name__}.SubError]"
    assert exception_key((DeserializationError,)) == (
        "[activejob_celery.errors.DeserializationError]"
    )
