"""``app.autodiscover_tasks()`` imports each package's ``jobs`` module as well as ``tasks``."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

from activejob_celery import init_app

TASKS_PY = """
from celery import shared_task

@shared_task(name="{pkg}.tasks.add")
def add(x, y):
    return x + y
"""
JOBS_PY = """
from activejob_celery import ApplicationJob

class ReceiptJob(ApplicationJob):
    def perform(self, order_id):
        pass
"""


@pytest.fixture
def aj_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write a package with the given modules on a temporary ``sys.path``; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(**modules: str) -> str:
        name = f"aj_disc_{uuid.uuid4().hex[:8]}"
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        for module, text in modules.items():
            (package / f"{module}.py").write_text(textwrap.dedent(text.format(pkg=name)))
        made.append(name)
        return name

    yield make
    for name in made:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


@pytest.fixture
def aj_disc_app() -> Iterator[Celery]:
    app = Celery("aj_discovery", broker="memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False
    yield app
    app.close()


def test_forced_discovery_registers_tasks_and_jobs(aj_disc_app, aj_package):
    init_app(aj_disc_app)
    both = aj_package(tasks=TASKS_PY, jobs=JOBS_PY)
    only_jobs = aj_package(jobs=JOBS_PY)
    only_tasks = aj_package(tasks=TASKS_PY)
    aj_disc_app.autodiscover_tasks([both, only_jobs, only_tasks], force=True)
    assert f"{both}.tasks.add" in aj_disc_app.tasks
    assert f"{both}.jobs.ReceiptJob" in aj_disc_app.tasks
    assert f"{only_jobs}.jobs.ReceiptJob" in aj_disc_app.tasks
    assert f"{only_tasks}.tasks.add" in aj_disc_app.tasks


def test_lazy_discovery_asked_before_init_app_finds_jobs_too(aj_disc_app, aj_package):
    package = aj_package(tasks=TASKS_PY, jobs=JOBS_PY)
    aj_disc_app.autodiscover_tasks([package])  # Celery's guide: lazy, before anything else
    init_app(aj_disc_app)
    assert f"{package}.jobs" not in sys.modules
    aj_disc_app.loader.import_default_modules()  # what a worker does at start
    assert f"{package}.tasks.add" in aj_disc_app.tasks
    assert f"{package}.jobs.ReceiptJob" in aj_disc_app.tasks


def test_an_import_error_inside_jobs_py_propagates(aj_disc_app, aj_package):
    init_app(aj_disc_app)
    package = aj_package(tasks=TASKS_PY, jobs="import aj_no_such_module_here\n")
    with pytest.raises(ImportError, match="aj_no_such_module_here"):
        aj_disc_app.autodiscover_tasks([package], force=True)


def test_init_app_twice_wraps_the_loader_once(aj_disc_app, aj_package):
    init_app(aj_disc_app)
    wrapped = aj_disc_app.loader.autodiscover_tasks
    init_app(aj_disc_app)
    assert aj_disc_app.loader.autodiscover_tasks is wrapped
    package = aj_package(jobs=JOBS_PY)
    aj_disc_app.autodiscover_tasks([package], related_name="jobs", force=True)  # no double
    assert f"{package}.jobs.ReceiptJob" in aj_disc_app.tasks
