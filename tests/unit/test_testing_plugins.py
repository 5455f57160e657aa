"""The pytest plugin (real pytest runs beside celery.contrib.pytest) and the unittest classes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import unittest
from collections.abc import Iterator
from pathlib import Path

import pytest

from activejob_celery import ApplicationJob, adapters
from activejob_celery.adapters import InlineAdapter
from activejob_celery.testing import (
    ActiveJobTestCase,
    ActiveJobTestMixin,
    TestAdapter,
    TestHelper,
    queue_adapter,
)

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "activejob_celery.testing.pytest_plugin"
CONTRIB = ["-p", "celery.contrib.pytest"]
OUR_FIXTURES = {
    "activejob",
    "activejob_adapter",
    "activejob_enqueued_jobs",
    "activejob_performed_jobs",
}

COMPAT_TESTS = """
import pytest
from celery import signals

from activejob_celery import ApplicationJob, adapters, init_app
from activejob_celery.adapters.celery import CeleryAdapter
from activejob_celery.testing import TestAdapter, perform_enqueued_jobs

done = []


class GreetJob(ApplicationJob):
    def perform(self, name):
        done.append(name)


@pytest.fixture
def jobs_app(celery_app):  # celery.contrib.pytest's app, on its in-memory broker
    init_app(celery_app)
    return celery_app


def test_helpers_beside_a_celery_contrib_app(
    activejob, activejob_adapter, activejob_enqueued_jobs, activejob_performed_jobs, jobs_app
):
    # init_app ran after the swap (fixtures set up in argument order): the swap still wins.
    assert isinstance(activejob_adapter, TestAdapter)
    GreetJob.perform_later("david")
    assert activejob_enqueued_jobs[0]["args"] == ["david"]
    activejob.assert_enqueued_with(job=GreetJob, args=["david"])
    assert perform_enqueued_jobs() == 1
    assert done == ["david"]
    assert activejob_performed_jobs[0]["job"] is GreetJob
    assert activejob.queue_adapter() is activejob_adapter


def test_without_our_fixtures_jobs_go_to_celery_again(jobs_app):
    published = []

    def on_publish(sender=None, **kwargs):
        published.append(sender)

    signals.before_task_publish.connect(on_publish, weak=False)
    try:
        job = GreetJob.perform_later("yves")
    finally:
        signals.before_task_publish.disconnect(on_publish)
    assert adapters.override is None
    assert isinstance(adapters.adapter_for(GreetJob), CeleryAdapter)
    assert job.successfully_enqueued
    assert published == [GreetJob.job_name]


def test_each_test_starts_with_a_fresh_adapter(activejob_adapter, celery_config):
    assert activejob_adapter.enqueued_jobs == [] and activejob_adapter.performed_jobs == []
    assert isinstance(celery_config, dict)  # celery.contrib.pytest's fixture, untouched
"""

OPT_IN_TESTS = """
from activejob_celery import ApplicationJob


class HelloJob(ApplicationJob):
    def perform(self, name):
        pass


def test_passes(activejob):
    activejob.assert_enqueued_jobs(1, block=lambda: HelloJob.perform_later("david"))


def test_fails_with_rails_message(activejob):
    activejob.assert_enqueued_jobs(
        1, only=lambda record: False, block=lambda: HelloJob.perform_later("x")
    )
"""


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--rootdir", str(directory), "-W", "error", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --------------------------------------------------------------------------- pytest plugin


def test_the_plugin_runs_beside_celery_contrib_pytest(tmp_path: Path) -> None:
    (tmp_path / "test_compat.py").write_text(COMPAT_TESTS)

    result = run_pytest(tmp_path, "-p", PLUGIN, "-p", "celery.contrib.pytest", "test_compat.py")

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b3 passed\b", result.stdout), result.stdout


def test_no_fixture_of_the_plugin_collides_with_celerys(tmp_path: Path) -> None:
    (tmp_path / "test_compat.py").write_text(COMPAT_TESTS)

    # With pytest-celery installed its plugin already carries celery.contrib.pytest's fixtures,
    # and loading that module a second time trips `pytest --fixtures` itself (duplicate defs).
    celery_fixtures = [] if importlib.util.find_spec("pytest_celery") else CONTRIB
    result = run_pytest(tmp_path, "--fixtures", "-p", PLUGIN, *celery_fixtures)

    assert result.returncode == 0, result.stdout + result.stderr
    sections: dict[str, list[str]] = {}
    current = ""
    for line in result.stdout.splitlines():
        header = re.match(r"-+ fixtures defined from (\S+) -+$", line)
        if header:
            current = header.group(1)
        elif match := re.match(r"(\w+)(?: \[\w+ scope\])? -- ", line):
            sections.setdefault(current, []).append(match.group(1))
    assert set(sections[PLUGIN]) == OUR_FIXTURES
    assert "celery_app" in [name for source, names in sections.items() for name in names]
    elsewhere = [name for source, names in sections.items() if source != PLUGIN for name in names]
    assert not OUR_FIXTURES & set(elsewhere)
    assert not [name for name in sections[PLUGIN] if name.startswith("celery")]


def test_the_documented_opt_in_works_and_failures_read_like_rails(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(f"pytest_plugins = [{PLUGIN!r}]\n")
    (tmp_path / "test_opt_in.py").write_text(OPT_IN_TESTS)

    result = run_pytest(tmp_path, "test_opt_in.py")

    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"\b1 failed, 1 passed\b", result.stdout), result.stdout
    assert "AssertionError: 1 job expected, but 0 were enqueued" in result.stdout
    assert "Also enqueued, not counted (only/exclude/queue):" in result.stdout


# --------------------------------------------------------------------------- unittest


class HelloJob(ApplicationJob):
    def perform(self, name: str) -> None:
        performed.append(name)


performed: list[str] = []
OWN_ADAPTER = TestAdapter()


class OwnAdapterJob(ApplicationJob):
    queue_adapter = OWN_ADAPTER

    def perform(self) -> None: ...


class InlineJob(ApplicationJob):
    queue_adapter = "inline"

    def perform(self) -> None:
        performed.append("inline")


@pytest.fixture(autouse=True)
def aj_unswapped() -> Iterator[None]:
    performed.clear()
    assert adapters.override is None
    yield
    assert adapters.override is None, "a test case left its adapter swapped in"


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.TestLoader().loadTestsFromTestCase(case).run(result)
    return result


def test_active_job_test_case_gives_each_test_a_fresh_adapter_and_the_helpers() -> None:
    adapters_seen: list[object] = []

    class NotificationJobTest(ActiveJobTestCase):
        def setUp(self) -> None:  # no super().setUp(): the swap holds all the same
            HelloJob.perform_later("from setUp")

        def test_enqueues(self) -> None:
            adapters_seen.append(self.queue_adapter())
            self.assert_enqueued_jobs(1)
            self.assert_enqueued_with(
                job=HelloJob, args=["david"], block=lambda: HelloJob.perform_later("david")
            )
            with self.expect_performed_jobs(1):
                HelloJob.perform_later("yves")

        def test_fails(self) -> None:
            adapters_seen.append(self.queue_adapter())
            self.assert_enqueued_jobs(2)

    result = run_case(NotificationJobTest)

    assert result.testsRun == 2
    assert result.errors == []
    assert [test.id().rsplit(".", 1)[1] for test, _ in result.failures] == ["test_fails"]
    assert "AssertionError: 2 jobs expected, but 1 was enqueued" in result.failures[0][1]
    first, second = adapters_seen
    assert isinstance(first, TestAdapter) and isinstance(second, TestAdapter)
    assert first is not second
    assert performed == ["yves"]
    assert NotificationJobTest.__test__ is True and TestHelper.__test__ is False


def test_the_mixin_fits_other_test_case_classes_and_can_choose_the_adapter() -> None:
    chosen = TestAdapter()

    class Base(unittest.TestCase):
        def setUp(self) -> None:
            self.base_set_up = True

    class ChosenAdapterTest(ActiveJobTestMixin, Base):
        keep_adapters = (InlineJob,)

        def queue_adapter_for_test(self) -> TestAdapter:
            return chosen

        def test_every_class_uses_the_chosen_adapter(self) -> None:
            assert self.base_set_up
            OwnAdapterJob.perform_later()  # an adapter object is swapped too, as in Rails
            InlineJob.perform_later()  # kept
            self.assert_enqueued_with(job=OwnAdapterJob)
            assert queue_adapter() is chosen

    result = run_case(ChosenAdapterTest)

    assert (result.testsRun, result.failures, result.errors) == (1, [], [])
    assert [record["job"] for record in chosen.enqueued_jobs] == [OwnAdapterJob]
    assert OWN_ADAPTER.enqueued_jobs == []
    assert performed == ["inline"]
    assert isinstance(adapters.adapter_for(InlineJob), InlineAdapter)


def test_debug_mode_swaps_too() -> None:
    class DebugTest(ActiveJobTestCase):
        def test_it(self) -> None:
            HelloJob.perform_later("david")
            self.assert_enqueued_jobs(1)

    DebugTest("test_it").debug()
    with pytest.raises(AssertionError, match="0 jobs expected, but 1 was enqueued"):

        class FailingDebugTest(ActiveJobTestCase):
            def test_it(self) -> None:
                HelloJob.perform_later("david")
                self.assert_no_enqueued_jobs()

        FailingDebugTest("test_it").debug()
