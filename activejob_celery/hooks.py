"""The one extension seam for code that runs in line: recorders, reporters, registry listeners.

Failure recorders, error reporters and registry listeners are each a :class:`Hooks` list.

Signals (:mod:`activejob_celery.signals`) are for observers: a receiver that raises is logged and
never changes what happens to the job. A hook runs in order, in the job's thread, and
:meth:`Hooks.call` lets its error through (a failure recorder that cannot store the failure makes
the task raise instead of acknowledging the message); :meth:`Hooks.call_logged` logs it instead.

Example:
    >>> hooks = Hooks("Example hook")
    >>> _ = hooks.add(print)
    >>> hooks.call("hello")
    hello
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

Hook = Callable[..., Any]


class Hooks(list[Hook]):
    """An ordered list of callables, each added once.

    Example:
        >>> seen = []
        >>> hooks = Hooks("Listener")
        >>> _ = hooks.add(seen.append), hooks.add(seen.append)
        >>> hooks.call(1); seen
        [1]
    """

    def __init__(self, label: str, logger: logging.Logger | None = None) -> None:
        super().__init__()
        self.label = label
        self.logger = logger or logging.getLogger(__name__)

    def add(self, hook: Hook) -> Hook:
        """Append ``hook`` unless it is already there; returns it (usable as a decorator)."""
        if hook not in self:
            self.append(hook)
        return hook

    def discard(self, hook: Hook) -> None:
        """Remove ``hook`` if it is there."""
        if hook in self:
            self.remove(hook)

    def call(self, *args: Any, **kwargs: Any) -> None:
        """Call every hook in order; an error stops the call and reaches the caller."""
        for hook in list(self):
            hook(*args, **kwargs)

    def call_logged(self, *args: Any, **kwargs: Any) -> None:
        """Call every hook in order; an error is logged (``<label> <hook> failed``) and skipped."""
        for hook in list(self):
            try:
                hook(*args, **kwargs)
            except Exception:
                self.logger.exception("%s %r failed", self.label, hook)
