"""The jobs of Rails' ``continuation_test.rb``, ported (records iterated in id order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from activejob_celery import ApplicationJob, Continuable

IDS = [123, 432, 6565, 3243, 234, 13, 22]


@dataclass
class Record:
    id: int
    name: str


class Records:
    items: ClassVar[list[Record]] = []

    @classmethod
    def reset(cls) -> None:
        cls.items = [Record(i, f"item_{i}") for i in IDS]

    @classmethod
    def find_each(cls, start: int | None = None) -> list[Record]:
        return [r for r in sorted(cls.items, key=lambda r: r.id) if start is None or r.id >= start]

    @classmethod
    def names(cls) -> list[str]:
        return [r.name for r in cls.items]


class IteratingJob(Continuable, ApplicationJob):
    def perform(self, raise_when_cursor: int | None = None) -> None:
        @self.step("rename")
        def _(step: Any) -> None:
            for record in Records.find_each(start=step.cursor):
                if raise_when_cursor is not None and step.cursor == raise_when_cursor:
                    raise RuntimeError("Cursor error")
                record.name = f"new_{record.name}"
                step.advance(from_=record.id)


class LinearJob(Continuable, ApplicationJob):
    items: ClassVar[list[str]] = []

    def perform(self) -> None:
        self.step("step_one", self.step_one)
        self.step("step_two", self.step_two)
        self.step("step_three", self.step_three)
        self.step("step_four", self.step_four)

    def step_one(self) -> None:
        self.items.append("item1")

    def step_two(self) -> None:
        self.items.append("item2")

    def step_three(self) -> None:
        self.items.append("item3")

    def step_four(self) -> None:
        self.items.append("item4")


class IsolatedJob(LinearJob):
    isolate: ClassVar[tuple[str, ...]] = ("step_three",)

    def perform(self) -> None:
        for name in ("step_one", "step_two", "step_three", "step_four"):
            self.step(name, getattr(self, name), isolated=name in self.isolate)


class DeletingJob(Continuable, ApplicationJob):
    items: ClassVar[list[str]] = []

    def perform(self) -> None:
        @self.step("delete")
        def _(step: Any) -> None:
            while self.items:
                self.items.pop(0)
                step.checkpoint()


class DuplicateStepJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        self.step("duplicate", lambda: None)
        self.step("duplicate", lambda: None)


class NestedStepsJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        @self.step("outer_step")
        def _() -> None:
            self.step("inner_step", lambda: None)


class NonStringStepJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        self.step(7, lambda: None)  # type: ignore[arg-type]


class ResumeWrongStepJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        if self.continuation.started:
            self.step("unexpected", lambda: None)
        else:

            @self.step("iterating", start=0)
            def _(step: Any) -> None:
                for _i in range(step.cursor or 1, 5):
                    step.advance()


class OutOfOrderJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        if self.continuation.started:
            names = ["step_one", "step_two", "step_two_and_a_half", "step_three", "step_four"]
        else:
            names = ["step_one", "step_two", "step_three", "step_four"]
        for name in names:
            self.step(name, lambda: None)


class AdvancingJob(Continuable, ApplicationJob):
    def perform(self, start_from: Any, advance_from: Any = None) -> None:
        self.step("test_step", lambda step: step.advance(from_=advance_from), start=start_from)


class NestedCursorJob(Continuable, ApplicationJob):
    items: ClassVar[list[list[str]]] = []

    def perform(self) -> None:
        @self.step("updating_sub_items", start=[0, 0])
        def _(step: Any) -> None:
            for inner in self.items[step.cursor[0] :]:
                for item in inner[step.cursor[1] :]:
                    self.items[step.cursor[0]][step.cursor[1]] = f"new_{item}"
                    step.set([step.cursor[0], step.cursor[1] + 1])
                step.set([step.cursor[0] + 1, 0])


class ArrayCursorJob(Continuable, ApplicationJob):
    items: ClassVar[list[Any]] = []

    def perform(self, objects: list[Any]) -> None:
        @self.step("iterate_objects", start=0)
        def _(step: Any) -> None:
            for obj in objects[step.cursor :]:
                self.items.append(obj)
                step.advance()
