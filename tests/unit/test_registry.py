"""The job-class registry: the only way a payload's name becomes a class; nothing is imported."""

from __future__ import annotations

import importlib.util
import logging
import sys
import uuid

import pytest

from activejob_celery import ApplicationJob, UnknownJobClassError, registry
from activejob_celery.execution import execute, instantiate


def payload_for(job_class: str) -> dict:
    return {"job_class": job_class, "job_id": "id", "queue_name": "default", "arguments": []}


def test_lookup_by_job_name(aj_adapter):
    class RegisteredJob(ApplicationJob):
        def perform(self):
            return "ran"

    assert registry.lookup(RegisteredJob.job_name) is RegisteredJob
    assert execute(payload_for(RegisteredJob.job_name)) == "ran"


@pytest.mark.parametrize("name", ["NoSuchJob", "os.system", "", None, 42, ["a"]])
def test_unknown_names_raise_unknown_job_class_error(name):
    with pytest.raises(UnknownJobClassError) as excinfo:
        registry.lookup(name)
    assert excinfo.value.job_class == str(name)
    assert isinstance(excinfo.value, LookupError)


def test_unknown_job_class_message_says_what_to_check():
    error = UnknownJobClassError("shop.jobs.GoneJob")
    assert str(error) == (
        "Failed to instantiate job, class 'shop.jobs.GoneJob' is not a registered job class "
        "(was it renamed, or is the module that defines it not imported by this worker?)"
    )


def test_a_payload_naming_an_importable_module_imports_nothing(tmp_path, monkeypatch):
    module = f"aj_canary_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(
        "from activejob_celery import ApplicationJob\n"
        "class CanaryJob(ApplicationJob):\n"
        "    def perform(self):\n"
        "        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in (f"{module}.CanaryJob", f"{module}:CanaryJob", module):
        with pytest.raises(UnknownJobClassError):
            instantiate(payload_for(name))
        with pytest.raises(UnknownJobClassError):
            registry.find_by_class_name(name)
    with pytest.raises(UnknownJobClassError):
        registry.find_by_class_name("CanaryJob")
    assert module not in sys.modules
    assert not [cls for cls in registry.job_classes() if cls.__name__ == "CanaryJob"]
    # The module was importable all along: it is the registry that refused.
    assert importlib.util.find_spec(module) is not None


def test_non_job_classes_are_never_resolved():
    # A real, imported class that is not a registered job must not be found by its path.
    with pytest.raises(UnknownJobClassError):
        instantiate(payload_for("activejob_celery.base.ApplicationJob"))
    with pytest.raises(UnknownJobClassError):
        instantiate(payload_for("builtins.dict"))


def test_abstract_classes_are_not_registered():
    class AbstractBaseJob(ApplicationJob, abstract=True):
        pass

    with pytest.raises(UnknownJobClassError):
        registry.lookup(AbstractBaseJob.job_name)
    with pytest.raises(UnknownJobClassError):
        registry.lookup("activejob_celery.base.ApplicationJob")


def test_find_by_class_name_takes_unique_bare_names_only():
    def define(module: str) -> type[ApplicationJob]:
        return type(
            "TwinJob",
            (ApplicationJob,),
            {"__module__": module, "perform": lambda self: None},
        )

    first = define("shop.jobs")
    assert registry.find_by_class_name("TwinJob") is first
    assert registry.find_by_class_name("shop.jobs.TwinJob") is first
    second = define("billing.jobs")
    with pytest.raises(
        UnknownJobClassError, match=r"ambiguous: billing\.jobs\.TwinJob, shop\.jobs\.TwinJob"
    ):
        registry.find_by_class_name("TwinJob")
    assert registry.find_by_class_name("billing.jobs.TwinJob") is second


def test_same_job_name_from_another_module_warns_and_replaces(caplog):
    caplog.set_level(logging.WARNING, logger="activejob_celery.registry")
    first = type(
        "ImportJob",
        (ApplicationJob,),
        {"__module__": "app_a", "job_name": "shared.ImportJob", "perform": lambda self: None},
    )
    assert caplog.records == []
    second = type(
        "ImportJob",
        (ApplicationJob,),
        {"__module__": "app_b", "job_name": "shared.ImportJob", "perform": lambda self: None},
    )
    assert first is not second
    assert registry.lookup("shared.ImportJob") is second
    [record] = caplog.records
    assert record.getMessage() == (
        "Job name 'shared.ImportJob' of app_b.ImportJob replaces the job class from module app_a"
    )


def test_redefining_a_class_in_the_same_module_replaces_it_quietly(caplog):
    caplog.set_level(logging.WARNING, logger="activejob_celery.registry")

    def define():
        class ReloadedJob(ApplicationJob):
            job_name = "unit.ReloadedJob"

            def perform(self):
                pass

        return ReloadedJob

    define()
    latest = define()
    assert registry.lookup("unit.ReloadedJob") is latest
    assert caplog.records == []


def test_listeners_hear_about_classes_defined_later():
    heard = []
    registry.add_listener(heard.append)
    registry.add_listener(heard.append)  # idempotent
    try:

        class LateJob(ApplicationJob):
            def perform(self):
                pass

        assert heard == [LateJob]
    finally:
        registry._listeners.remove(heard.append)


def test_snapshot_and_restore():
    saved = registry.snapshot()

    class TemporaryJob(ApplicationJob):
        def perform(self):
            pass

    assert TemporaryJob in registry.job_classes()
    registry.restore(saved)
    assert TemporaryJob not in registry.job_classes()
