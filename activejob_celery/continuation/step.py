"""A step of a continuable job and its cursor (Rails ``ActiveJob::Continuation::Step``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UnadvanceableCursorError

if TYPE_CHECKING:
    from .mixin import Continuable


def advance_cursor(value: Any) -> int:
    """``value + 1`` for an ``int`` cursor (Ruby's ``succ``); other types cannot be advanced.

    Raises:
        UnadvanceableCursorError: ``value`` is not an ``int`` (``None``, ``float``, ``bool`` ...).

    Example:
        >>> advance_cursor(432)
        433
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnadvanceableCursorError(
            f"Cursor class '{type(value).__name__}' does not implement 'succ'"
        )
    return value + 1


class Step:
    """The step running now: its ``name`` and ``cursor``, and the checkpoints inside it.

    Example:
        >>> @self.step("process", start=0)                    # doctest: +SKIP
        ... def _(step):
        ...     for record in records_after(step.cursor):
        ...         record.process()
        ...         step.advance(from_=record.id)
    """

    __slots__ = ("_initial_cursor", "_job", "cursor", "name", "resumed")

    def __init__(self, name: str, cursor: Any, *, job: Continuable, resumed: bool) -> None:
        self.name = name
        """The step's name."""
        self.cursor = cursor
        """Where the step is: ``start``, the restored value, or the last ``set``/``advance``."""
        self.resumed = resumed
        """Whether this step was restored from the payload of an interrupted run."""
        self._initial_cursor = cursor
        self._job = job

    @property
    def advanced(self) -> bool:
        """Whether the cursor moved in this execution (a checkpoint alone is not progress)."""
        return bool(self._initial_cursor != self.cursor)

    def checkpoint(self) -> None:
        """A point where the job may stop: raises ``ContinuationInterrupt`` if the worker stops.

        Example:
            >>> for record in records:                        # doctest: +SKIP
            ...     record.destroy()
            ...     step.checkpoint()
        """
        self._job.checkpoint()

    def set(self, cursor: Any) -> None:
        """Set the cursor, then checkpoint.

        Example:
            >>> step.set([account.id + 1, 0])                 # doctest: +SKIP
        """
        self.cursor = cursor
        self.checkpoint()

    def advance(self, from_: Any = None) -> None:
        """Set the cursor to ``from_ + 1`` (or ``cursor + 1``), then checkpoint.

        Raises:
            UnadvanceableCursorError: the value to advance is not an ``int``.

        Example:
            >>> step.advance(from_=record.id)                 # doctest: +SKIP
        """
        self.set(advance_cursor(self.cursor if from_ is None else from_))

    @property
    def description(self) -> str:
        """``at 'process', cursor 433``-style text used in log lines and interrupt messages."""
        return f"at '{self.name}', cursor '{self.cursor!r}'"

    def __repr__(self) -> str:
        return f"<Step {self.name!r} cursor={self.cursor!r} resumed={self.resumed}>"
