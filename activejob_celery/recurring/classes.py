"""``class:`` of a recurring entry: a job_name, a bare class name or a Ruby constant path."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import registry
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..base import ApplicationJob


def resolve_job_class(name: str) -> type[ApplicationJob]:
    """The registered job class ``name`` means; nothing is ever imported.

    ``name`` is tried, in order, as a ``job_name`` (``"shop.jobs.CleanupJob"``); as a Ruby
    constant path or dotted tail (``Notification::Bundle::DeliverJob`` or
    ``Notification.Bundle.DeliverJob``): the class whose ``job_name`` ends with
    ``Notification.Bundle.DeliverJob``, then the same ignoring case and underscores (Python
    modules are snake case: ``app.notification.bundle.DeliverJob``, ``aj_recurring.TickJob``
    for ``AjRecurring::TickJob``); and last as the bare class name
    (``DeliverJob``) when exactly one registered class has it.

    Raises:
        ConfigurationError: no registered class matches, or several do (naming them).

    Example:
        >>> resolve_job_class("Notification::Bundle::DeliverJob").job_name  # doctest: +SKIP
        'app.notification.bundle.DeliverJob'
    """
    classes = registry.job_classes()
    exact = [cls for cls in classes if cls.job_name == name]
    if len(exact) == 1:
        return exact[0]
    dotted = name.replace("::", ".").strip(".")
    bare = dotted.rpartition(".")[2]
    tests: list[Callable[[type[ApplicationJob]], bool]] = []
    if "." in dotted:
        tests.append(lambda cls: _ends_with(cls.job_name, dotted))
        tests.append(lambda cls: _ends_with(_folded(cls.job_name), _folded(dotted)))
    tests.append(lambda cls: cls.__name__ == bare)
    for test in tests:
        found = [cls for cls in classes if test(cls)]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(sorted(cls.job_name for cls in found))
            raise ConfigurationError(
                f"class {name!r} is ambiguous: it could be {names}; give its job_name"
            )
    raise ConfigurationError(
        f"class {name!r} is not a registered job class (give its job_name or its class name, "
        "and import the module that defines it before loading)"
    )


def _folded(name: str) -> str:
    """Ruby's ``AjRecurring::TickJob`` lives in Python's ``aj_recurring``: compare loosely."""
    return name.lower().replace("_", "")


def _ends_with(job_name: str, tail: str) -> bool:
    return job_name == tail or job_name.endswith("." + tail)
