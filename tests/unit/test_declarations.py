"""Class-body declarations: the collector, classmethod and decorator forms, inheritance."""

from __future__ import annotations

import gc

import pytest

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    after_discard,
    after_perform,
    around_perform,
    before_enqueue,
    before_perform,
    discard_on,
    queue_as,
    queue_with_priority,
    registry,
    rescue_from,
    retry_on,
)
from activejob_celery.callbacks import CallbackDeclaration
from activejob_celery.declaration import _state
from activejob_celery.rescue import DiscardOn, RescueFrom, RetryOn


def handled(job_class: type[ApplicationJob]) -> list[tuple[str, tuple[type[BaseException], ...]]]:
    """The rescue table of a class, oldest first, as (kind, exceptions)."""
    return [(type(h).__name__, h.exceptions) for h in job_class._rescue_handlers]


def callback_names(job_class: type[ApplicationJob], chain: str = "perform") -> list[str]:
    table = job_class._perform_callbacks if chain == "perform" else job_class._enqueue_callbacks
    return [f"{c.kind}:{c.function.__name__}" for c in table]


# --------------------------------------------------------------------------- the collector


def test_class_body_declarations_are_collected_in_order():
    class CleanupJob(ApplicationJob):
        queue_as("low")
        queue_with_priority(4)
        retry_on(TimeoutError, attempts=3)
        discard_on(KeyError)
        rescue_from(ValueError, with_="on_value")
        before_perform("load")

        def load(self):
            pass

        def on_value(self, error):
            pass

        def perform(self):
            pass

    assert CleanupJob._queue_name_source == "low"
    assert CleanupJob._priority_source == 4
    assert handled(CleanupJob) == [
        ("RetryOn", (TimeoutError,)),
        ("DiscardOn", (KeyError,)),
        ("RescueFrom", (ValueError,)),
    ]
    assert callback_names(CleanupJob) == ["before:load"]
    assert not _state.collectors, "the class statement must close its collector"


def test_declarations_return_what_rails_users_expect():
    class ReturnsJob(ApplicationJob):
        results = (queue_as("q"), queue_with_priority(3), before_perform("p"))

        def p(self):
            pass

        def perform(self):
            pass

    # queue_as / queue_with_priority / callbacks hand back their argument (usable as decorators).
    assert ReturnsJob.results == ("q", 3, "p")


def test_declaration_outside_a_class_body_raises_with_usage():
    with pytest.raises(ConfigurationError) as excinfo:
        retry_on(TimeoutError, attempts=3)
    message = str(excinfo.value)
    assert "retry_on(TimeoutError)" in message
    assert "class ReportJob(ApplicationJob):" in message
    assert "ReportJob.retry_on(TimeoutError)" in message


@pytest.mark.parametrize(
    ("declare", "usage"),
    [
        (lambda: queue_as("low"), "queue_as('low')"),
        (lambda: queue_with_priority(5), "queue_with_priority(5)"),
        (lambda: discard_on(KeyError), "discard_on(KeyError)"),
        (lambda: rescue_from(KeyError, with_="x"), "rescue_from(KeyError, ...)"),
        (lambda: before_perform("load"), "before_perform('load')"),
        (lambda: after_discard("record"), "after_discard('record')"),
    ],
)
def test_every_declaration_refuses_to_run_outside_a_class_body(declare, usage):
    with pytest.raises(ConfigurationError, match="must be called in the body") as excinfo:
        declare()
    assert usage in str(excinfo.value)


def test_declaration_in_a_method_at_run_time_raises():
    class LateJob(ApplicationJob):
        def perform(self):
            retry_on(TimeoutError)

    with pytest.raises(ConfigurationError, match="must be called in the body"):
        LateJob().perform()


def test_declaration_in_a_plain_class_body_raises():
    with pytest.raises(ConfigurationError, match="must be called in the body"):

        class NotAJob:
            retry_on(TimeoutError)


def test_declarations_made_through_a_helper_called_in_the_body_apply():
    def standard_retries():
        retry_on(ConnectionError, attempts=10)
        discard_on(LookupError)

    class HelperJob(ApplicationJob):
        standard_retries()

        def perform(self):
            pass

    assert handled(HelperJob) == [("RetryOn", (ConnectionError,)), ("DiscardOn", (LookupError,))]


# --------------------------------------------------------------------------- classmethod form


def test_classmethod_form_applies_after_the_body():
    class ProgrammaticJob(ApplicationJob):
        def perform(self):
            pass

    declaration = ProgrammaticJob.retry_on(TimeoutError, attempts=2)
    ProgrammaticJob.discard_on(KeyError)
    ProgrammaticJob.queue_as("later")
    ProgrammaticJob.queue_with_priority(1)
    ProgrammaticJob.check = lambda self: None
    ProgrammaticJob.before_perform("check")

    assert isinstance(declaration, RetryOn)
    assert declaration.attempts == 2
    assert handled(ProgrammaticJob) == [("RetryOn", (TimeoutError,)), ("DiscardOn", (KeyError,))]
    assert ProgrammaticJob._queue_name_source == "later"
    assert ProgrammaticJob._priority_source == 1
    assert ProgrammaticJob().queue_name == "later"
    # The classmethod form does not leave the class "open": a bare call still raises.
    with pytest.raises(ConfigurationError):
        retry_on(TimeoutError)


def test_classmethod_form_with_a_missing_method_raises_at_once():
    class StrictJob(ApplicationJob):
        def perform(self):
            pass

    with pytest.raises(ConfigurationError, match="has no method 'nope'"):
        StrictJob.before_perform("nope")


def test_classmethod_form_reaches_existing_subclasses_but_not_the_parent():
    class ParentJob(ApplicationJob):
        retry_on(KeyError)

        def perform(self):
            pass

    class ChildJob(ParentJob):
        discard_on(ValueError)

    ParentJob.retry_on(OSError)
    assert handled(ParentJob) == [("RetryOn", (KeyError,)), ("RetryOn", (OSError,))]
    assert handled(ChildJob) == [
        ("RetryOn", (KeyError,)),
        ("RetryOn", (OSError,)),
        ("DiscardOn", (ValueError,)),
    ]
    ChildJob.rescue_from(LookupError, with_=lambda job, error: None)
    assert handled(ParentJob) == [("RetryOn", (KeyError,)), ("RetryOn", (OSError,))]
    assert handled(ChildJob)[-1] == ("RescueFrom", (LookupError,))


def test_classmethod_form_as_a_decorator_after_the_body(aj_adapter):
    class DecoratedLaterJob(ApplicationJob):
        def perform(self):
            raise KeyError("gone")

    seen = []

    @DecoratedLaterJob.rescue_from(KeyError)
    def on_missing(job, error):
        seen.append((job.job_id, str(error)))

    job = DecoratedLaterJob()
    assert isinstance(job.perform_now(), KeyError)
    assert seen == [(job.job_id, "'gone'")]


# --------------------------------------------------------------------------- decorator forms


def test_decorator_forms_register_methods(aj_adapter):
    calls = []

    class DecoratedJob(ApplicationJob):
        @queue_as
        def choose_queue(self):
            return "q_" + str(self.arguments[0])

        @queue_with_priority
        def choose_priority(self):
            return self.arguments[0]

        @retry_on(TimeoutError, attempts=1)
        def exhausted(self, error):
            calls.append(("exhausted", type(error).__name__))

        @discard_on(KeyError)
        def dropped(self, error):
            calls.append(("dropped", type(error).__name__))

        @rescue_from(ValueError)
        def rescued(self, error):
            calls.append(("rescued", type(error).__name__))

        @after_discard
        def record(self, error):
            calls.append(("after_discard", type(error).__name__))

        @before_perform
        def before(self):
            calls.append(("before", self.arguments[0]))

        @around_perform
        def around(self):
            calls.append(("around-in", None))
            yield
            calls.append(("around-out", None))

        @after_perform
        def after(self):
            calls.append(("after", None))

        def perform(self, kind):
            if kind == 1:
                raise TimeoutError
            if kind == 2:
                raise KeyError
            if kind == 3:
                raise ValueError

    assert DecoratedJob(7).queue_name == "q_7"
    assert DecoratedJob(7).priority == 7
    # The decorated functions stay ordinary methods of the class.
    assert DecoratedJob.choose_queue(DecoratedJob(2)) == "q_2"
    assert callback_names(DecoratedJob) == ["before:before", "around:around", "after:after"]

    DecoratedJob.perform_now(0)
    # An after callback declared after an around runs inside it (Rails).
    assert calls == [("before", 0), ("around-in", None), ("after", None), ("around-out", None)]
    calls.clear()
    DecoratedJob.perform_now(1)
    assert calls[-2:] == [("exhausted", "TimeoutError"), ("after_discard", "TimeoutError")]
    calls.clear()
    DecoratedJob.perform_now(2)
    assert calls[-2:] == [("dropped", "KeyError"), ("after_discard", "KeyError")]
    calls.clear()
    DecoratedJob.perform_now(3)
    assert calls[-1] == ("rescued", "ValueError")


def test_rescue_from_without_handler_or_decoration_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="give with_= or use it as a method decorator"):

        class IncompleteJob(ApplicationJob):
            rescue_from(ValueError)

            def perform(self):
                pass

    assert not _state.collectors


def test_method_name_that_does_not_exist_fails_when_the_class_is_built():
    with pytest.raises(ConfigurationError, match="has no method 'missing'"):

        class TypoJob(ApplicationJob):
            before_perform("missing")

            def perform(self):
                pass


def test_around_callback_must_be_a_generator():
    with pytest.raises(ConfigurationError, match="generator"):

        class AroundJob(ApplicationJob):
            @around_perform
            def not_a_generator(self):
                return None

            def perform(self):
                pass


def test_invalid_declaration_arguments_raise_configuration_errors():
    with pytest.raises(ConfigurationError, match="is not an exception class"):

        class NotExceptionJob(ApplicationJob):
            retry_on("TimeoutError")

    with pytest.raises(ConfigurationError, match="name at least one exception class"):

        class NoExceptionJob(ApplicationJob):
            discard_on()

    with pytest.raises(ConfigurationError, match="attempts"):

        class BadAttemptsJob(ApplicationJob):
            retry_on(TimeoutError, attempts=-1)

    with pytest.raises(ConfigurationError):

        class BadQueueJob(ApplicationJob):
            queue_as(42)

    gc.collect()  # the failed bodies above sit in reference cycles of their tracebacks
    assert not [c for c in _state.collectors if c.namespace() is not None]


# --------------------------------------------------------------------------- abstract and registry


def test_abstract_classes_need_no_perform_and_are_not_registered():
    before = set(registry.snapshot())

    class BaseJob(ApplicationJob, abstract=True):
        retry_on(ConnectionError)

    assert BaseJob._abstract is True
    assert set(registry.snapshot()) == before
    with pytest.raises(ConfigurationError, match="does not define perform"):
        BaseJob().perform()


def test_concrete_class_without_perform_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as excinfo:

        class ForgetfulJob(ApplicationJob):
            queue_as("low")

    message = str(excinfo.value)
    assert "must define perform()" in message
    assert "abstract=True" in message
    assert not any(cls.__name__ == "ForgetfulJob" for cls in registry.job_classes())


def test_concrete_subclass_of_abstract_base_without_perform_fails_too():
    class BaseJob(ApplicationJob, abstract=True):
        pass

    with pytest.raises(ConfigurationError, match="must define perform"):

        class EmptyJob(BaseJob):
            pass


def test_concrete_subclass_inherits_perform_and_registers_under_its_own_name():
    class ParentJob(ApplicationJob):
        def perform(self):
            return "parent"

    class ChildJob(ParentJob):
        pass

    assert ChildJob._abstract is False
    assert registry.lookup(ChildJob.job_name) is ChildJob
    assert registry.lookup(ParentJob.job_name) is ParentJob
    assert ChildJob().perform() == "parent"


def test_job_name_defaults_to_module_and_qualname_and_can_be_overridden():
    class DefaultNameJob(ApplicationJob):
        def perform(self):
            pass

    class RenamedJob(ApplicationJob):
        job_name = "shop.cleanup"

        def perform(self):
            pass

    class RenamedChildJob(RenamedJob):
        pass

    assert DefaultNameJob.job_name == f"{__name__}.{DefaultNameJob.__qualname__}"
    assert ".<locals>.DefaultNameJob" in DefaultNameJob.job_name
    assert RenamedJob.job_name == "shop.cleanup"
    assert registry.lookup("shop.cleanup") is RenamedJob
    # A subclass does not inherit the override: two classes never share a task name.
    assert RenamedChildJob.job_name == f"{__name__}.{RenamedChildJob.__qualname__}"
    assert registry.lookup(RenamedChildJob.job_name) is RenamedChildJob
    assert RenamedJob().serialize()["job_class"] == "shop.cleanup"


def test_registry_finds_job_classes_by_job_name_and_bare_name():
    class LookupTargetJob(ApplicationJob):
        job_name = "unit.LookupTargetJob"

        def perform(self):
            pass

    assert registry.lookup("unit.LookupTargetJob") is LookupTargetJob
    assert registry.find_by_class_name("LookupTargetJob") is LookupTargetJob
    assert LookupTargetJob in registry.job_classes()


# --------------------------------------------------------------------------- nesting and failures


def test_nested_job_classes_keep_their_own_declarations():
    class OuterJob(ApplicationJob):
        queue_as("outer")
        retry_on(KeyError)

        class InnerJob(ApplicationJob):
            queue_as("inner")
            retry_on(OSError)

            def perform(self):
                pass

        discard_on(ValueError)

        def perform(self):
            pass

    assert handled(OuterJob) == [("RetryOn", (KeyError,)), ("DiscardOn", (ValueError,))]
    assert handled(OuterJob.InnerJob) == [("RetryOn", (OSError,))]
    assert OuterJob._queue_name_source == "outer"
    assert OuterJob.InnerJob._queue_name_source == "inner"
    assert OuterJob.InnerJob.job_name.endswith("OuterJob.InnerJob")
    assert not _state.collectors


def test_job_class_built_by_a_factory_inside_another_class_body():
    # A class created while another class body runs (a factory call, an import) is not nested
    # by qualname; it must neither steal nor close the enclosing body's collector.
    def make_job():
        class GeneratedJob(ApplicationJob):
            retry_on(LookupError)

            def perform(self):
                pass

        return GeneratedJob

    class EnclosingJob(ApplicationJob):
        retry_on(KeyError)
        helper = make_job()
        retry_on(OSError)

        def perform(self):
            pass

    assert handled(EnclosingJob) == [("RetryOn", (KeyError,)), ("RetryOn", (OSError,))]
    assert handled(EnclosingJob.helper) == [("RetryOn", (LookupError,))]
    assert not _state.collectors


def test_class_body_that_raises_leaves_no_collector_open():
    try:

        class BrokenJob(ApplicationJob):
            retry_on(KeyError)
            raise RuntimeError("boom in the class body")

    except RuntimeError:
        pass
    with pytest.raises(ConfigurationError, match="must be called in the body"):
        retry_on(TimeoutError)
    assert not _state.collectors


def test_bad_declaration_in_a_body_leaves_no_collector_once_its_error_is_gone():
    with pytest.raises(ConfigurationError, match="wait="):

        class BadWaitJob(ApplicationJob):
            retry_on(TimeoutError, wait="soon")

    # The ConfigurationError's traceback may hold the dead body's namespace (and its collector)
    # in a reference cycle; the call is refused all the same: that body is not running.
    with pytest.raises(ConfigurationError, match="must be called in the body"):
        retry_on(TimeoutError)


def test_a_failed_body_kept_alive_takes_no_declaration_made_outside_a_body():
    with pytest.raises(ConfigurationError, match="wait=") as excinfo:

        class KeptBadJob(ApplicationJob):
            retry_on(TimeoutError, wait="soon")

    kept = excinfo.value.__traceback__  # holds the dead body's frame and namespace
    assert [c for c in _state.collectors if c.namespace() is not None]  # its collector lives on
    with pytest.raises(ConfigurationError, match="must be called in the body"):
        retry_on(TimeoutError)

    class NextJob(ApplicationJob):  # a body that runs now gets its own declarations
        retry_on(KeyError)

        def perform(self):
            pass

    assert handled(NextJob) == [("RetryOn", (KeyError,))]
    del kept, excinfo


def test_failed_body_does_not_swallow_the_next_class_declarations():
    with pytest.raises(RuntimeError) as excinfo:

        class BrokenJob(ApplicationJob):
            raise RuntimeError("boom")

    class HealthyJob(ApplicationJob):
        retry_on(KeyError)

        def perform(self):
            pass

    assert excinfo.value.args == ("boom",)
    assert handled(HealthyJob) == [("RetryOn", (KeyError,))]


def test_nested_body_that_raises_inside_an_outer_body_does_not_steal_its_declarations():
    class OuterJob(ApplicationJob):
        try:

            class InnerJob(ApplicationJob):
                raise RuntimeError("inner failed")

        except RuntimeError:
            pass
        retry_on(KeyError)

        def perform(self):
            pass

    assert handled(OuterJob) == [("RetryOn", (KeyError,))]
    assert not hasattr(OuterJob, "InnerJob")


# --------------------------------------------------------------------------- inheritance and mixins


def test_mixins_apply_where_they_sit_in_the_mro(aj_adapter):
    calls = []

    class BaseJob(ApplicationJob, abstract=True):
        rescue_from(ConnectionError, with_=lambda job, error: calls.append("base"))

        @before_perform
        def base_before(self):
            calls.append("base_before")

    class SmtpMixin(ApplicationJob, abstract=True):
        rescue_from(ConnectionError, with_=lambda job, error: calls.append("smtp"))

        @before_perform
        def smtp_before(self):
            calls.append("smtp_before")

    class WelcomeEmailJob(SmtpMixin, BaseJob):
        @before_perform
        def own_before(self):
            calls.append("own_before")

        def perform(self):
            raise ConnectionError

    # Rails: `class WelcomeEmailJob < BaseJob; include SmtpMixin` -> the mixin's handler is newer.
    assert [cls.__name__ for cls in WelcomeEmailJob.__mro__[:3]] == [
        "WelcomeEmailJob",
        "SmtpMixin",
        "BaseJob",
    ]
    assert callback_names(WelcomeEmailJob) == [
        "before:base_before",
        "before:smtp_before",
        "before:own_before",
    ]
    WelcomeEmailJob.perform_now()
    assert calls == ["base_before", "smtp_before", "own_before", "smtp"]


def test_own_declaration_beats_mixin_and_base():
    class BaseJob(ApplicationJob, abstract=True):
        retry_on(ConnectionError)

    class Mixin(ApplicationJob, abstract=True):
        discard_on(ConnectionError)

    class ChildJob(Mixin, BaseJob):
        rescue_from(ConnectionError, with_=lambda job, error: None)

        def perform(self):
            pass

    kinds = [type(h) for h in ChildJob._rescue_handlers]
    assert kinds == [RetryOn, DiscardOn, RescueFrom]


def test_subclasses_copy_and_never_mutate_the_parent_tables():
    class ParentJob(ApplicationJob):
        queue_as("parent")
        queue_with_priority(1)
        retry_on(KeyError)
        before_perform("hook")

        def hook(self):
            pass

        def perform(self):
            pass

    parent_handlers = ParentJob._rescue_handlers
    parent_callbacks = ParentJob._perform_callbacks
    parent_own = list(ParentJob._own_declarations)

    class ChildJob(ParentJob):
        queue_as("child")
        queue_with_priority(9)
        discard_on(ValueError)
        after_perform("hook")
        before_enqueue("hook")

    assert ParentJob._rescue_handlers is parent_handlers
    assert handled(ParentJob) == [("RetryOn", (KeyError,))]
    assert ParentJob._perform_callbacks is parent_callbacks
    assert ParentJob._enqueue_callbacks == ()
    assert ParentJob._own_declarations == parent_own
    assert ParentJob._queue_name_source == "parent"
    assert ParentJob._priority_source == 1
    assert handled(ChildJob) == [("RetryOn", (KeyError,)), ("DiscardOn", (ValueError,))]
    assert callback_names(ChildJob) == ["before:hook", "after:hook"]
    assert callback_names(ChildJob, "enqueue") == ["before:hook"]
    assert ChildJob._queue_name_source == "child"
    assert ParentJob().queue_name == "parent"
    assert ChildJob().queue_name == "child"
    assert ChildJob().priority == 9
    # The inherited entries are shared objects, not re-declared ones.
    assert all(isinstance(d, RetryOn | CallbackDeclaration) for d in parent_own)


def test_subclass_inherits_queue_and_priority_sources():
    class ParentJob(ApplicationJob):
        queue_as("inherited")
        queue_with_priority(2)

        def perform(self):
            pass

    class ChildJob(ParentJob):
        pass

    assert ChildJob().queue_name == "inherited"
    assert ChildJob().priority == 2


def test_method_names_resolve_against_the_subclass():
    calls = []

    class ParentJob(ApplicationJob, abstract=True):
        before_perform("prepare")

        def prepare(self):
            calls.append("parent")

    class ChildJob(ParentJob):
        queue_adapter = "inline"

        def prepare(self):
            calls.append("child")

        def perform(self):
            pass

    ChildJob.perform_now()
    assert calls == ["child"]
