"""Continuable jobs behind ``tests/payloads/continuation/*.json``; their names are fixed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

from activejob_celery import ApplicationJob, Continuable

STOP_AT: dict[str, Any] = {}


class ContinuableImportJob(Continuable, ApplicationJob):
    """Validates, then processes records 1..1000 by id (a cursor of ids)."""

    job_name = "golden.ContinuableImportJob"
    done: ClassVar[list[Any]] = []

    def perform(self, import_id: int) -> None:
        self.step("validate", lambda: self.done.append("validate"))

        @self.step("process", start=0)
        def _(step: Any) -> None:
            for record_id in (430, 431, 432, 433, 434):
                if record_id >= step.cursor:
                    self.done.append(record_id)
                    step.advance(from_=record_id)


class ContinuableReportJob(Continuable, ApplicationJob):
    """One report per day of November 2026 (a ``date`` cursor)."""

    job_name = "golden.ContinuableReportJob"
    done: ClassVar[list[Any]] = []

    def perform(self) -> None:
        @self.step("by_day", start=date(2026, 11, 1))
        def _(step: Any) -> None:
            while step.cursor < date(2026, 11, 5):
                self.done.append(step.cursor)
                step.set(step.cursor + timedelta(days=1))
