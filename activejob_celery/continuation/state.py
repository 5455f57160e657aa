"""The progress of a continuable job: completed steps, the current step, and its payload form.

Serialized as Rails 8.1 writes it, under the payload key ``continuation``:
``{"completed": ["validate"], "current": ["process", 433]}`` (``current`` left out when no
step is in progress; ``{}`` for a job not started). Cursors go through the argument serializer
(Rails 8.2), so a ``date`` cursor comes back a ``date``; JSON-native cursors are written as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..arguments import deserialize_argument, serialize_argument
from ..errors import DeserializationError, InvalidStepError, MalformedPayloadError
from .events import instrument_step, step_skipped
from .step import Step

if TYPE_CHECKING:
    from .mixin import Continuable


def check_progress(value: object) -> dict[str, Any]:
    """Check the shape of a payload's ``continuation``; returns it (``{}`` for None).

    Raises:
        MalformedPayloadError: not ``{"completed": [str...], "current": [str, cursor]}``.

    Example:
        >>> check_progress({"completed": ["a"], "current": ["b", 3]})
        {'completed': ['a'], 'current': ['b', 3]}
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedPayloadError("'continuation' must be an object")
    completed = value.get("completed", [])
    if not isinstance(completed, list) or not all(isinstance(name, str) for name in completed):
        raise MalformedPayloadError("'continuation.completed' must be a list of step names")
    current = value.get("current")
    if "current" in value and not (
        isinstance(current, list) and len(current) == 2 and isinstance(current[0], str)
    ):
        raise MalformedPayloadError("'continuation.current' must be [step name, cursor]")
    return value


class Continuation:
    """Which steps ran, which one is in progress, and whether this execution made progress.

    Example:
        >>> job.continuation.to_dict()                      # doctest: +SKIP
        {'completed': ['validate'], 'current': ['process', 433]}
    """

    def __init__(self, job: Continuable, progress: dict[str, Any]) -> None:
        """Restore from a checked payload ``continuation``; DeserializationError on a bad cursor."""
        self._job = job
        self.completed: list[str] = list(progress.get("completed", []))
        self.current: Step | None = None
        if "current" in progress:
            name, encoded = progress["current"]
            try:
                cursor = deserialize_argument(encoded)
            except (ValueError, LookupError) as error:
                raise DeserializationError(f"the cursor of step '{name}': {error}") from error
            self.current = Step(name, cursor, job=job, resumed=True)
        self._encountered: list[str] = []
        self._advanced = False
        self._running_step = False
        self._isolating = False

    @property
    def started(self) -> bool:
        """Whether a previous execution completed a step or began one."""
        return bool(self.completed) or self.current is not None

    @property
    def advanced(self) -> bool:
        """Whether this execution completed a step or moved a cursor."""
        return self._advanced

    @property
    def description(self) -> str:
        """``at 'step', cursor 433``, ``after 'step'`` or ``not started``."""
        if self.current is not None:
            return self.current.description
        if self.completed:
            return f"after '{self.completed[-1]}'"
        return "not started"

    def instrumentation(self) -> dict[str, Any]:
        """The extra keyword arguments of the ``interrupt`` and ``resume`` signals."""
        return {
            "description": self.description,
            "completed_steps": list(self.completed),
            "current_step": self.current,
        }

    def to_dict(self) -> dict[str, Any]:
        """The payload form (``current`` omitted when no step is in progress)."""
        progress: dict[str, Any] = {"completed": list(self.completed)}
        if self.current is not None:
            progress["current"] = [self.current.name, serialize_argument(self.current.cursor)]
        return progress

    def step(self, name: str, start: Any, isolated: bool, body: Callable[[Step], Any]) -> None:
        """Run ``body`` for step ``name``, or skip it when a previous execution completed it."""
        self._validate(name)
        self._encountered.append(name)
        if name in self.completed:
            step_skipped(self._job, name)
            return
        self._isolating = self._isolating or isolated
        if self._isolating and self._advanced:
            self._job.interrupt("isolating")
        self._run(name, start, body)

    def _run(self, name: str, start: Any, body: Callable[[Step], Any]) -> None:
        self._running_step = True
        if self.current is None:
            self.current = Step(name, start, job=self._job, resumed=False)
        current = self.current
        try:
            with instrument_step(self._job, current):
                body(current)
            self.completed.append(current.name)
            self.current = None
            self._advanced = True
        finally:
            self._running_step = False
            self._advanced = self._advanced or (self.current is not None and self.current.advanced)

    def _validate(self, name: object) -> None:
        if not isinstance(name, str):
            raise InvalidStepError(f"Step '{name}' must be a str, found '{type(name).__name__}'")
        if name in self._encountered:
            raise InvalidStepError(f"Step '{name}' has already been encountered")
        if self._running_step and self.current is not None:
            raise InvalidStepError(f"Step '{name}' is nested inside step '{self.current.name}'")
        current = self.current
        if current is not None and current.name != name and name not in self.completed:
            raise InvalidStepError(f"Step '{name}' found, expected to resume from '{current.name}'")
        seen = len(self._encountered)
        if len(self.completed) > seen and self.completed[seen] != name:
            raise InvalidStepError(f"Step '{name}' found, expected to see '{self.completed[seen]}'")
