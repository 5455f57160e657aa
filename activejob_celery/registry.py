"""The registry of job classes: the only way a name in a payload becomes a class."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import UnknownJobClassError
from .hooks import Hooks

if TYPE_CHECKING:
    from .base import ApplicationJob

logger = logging.getLogger(__name__)

Listener = Callable[["type[ApplicationJob]"], None]

_job_classes: dict[str, type[ApplicationJob]] = {}
_listeners = Hooks("Registry listener", logger)


def register(job_class: type[ApplicationJob]) -> None:
    """Record ``job_class`` under its ``job_name`` and tell the listeners (``init_app``)."""
    name = job_class.job_name
    previous = _job_classes.get(name)
    if (
        previous is not None
        and previous is not job_class
        and previous.__module__ != job_class.__module__
    ):
        logger.warning(
            "Job name %r of %s.%s replaces the job class from module %s",
            name,
            job_class.__module__,
            job_class.__qualname__,
            previous.__module__,
        )
    _job_classes[name] = job_class
    _listeners.call(job_class)


def lookup(name: object) -> type[ApplicationJob]:
    """The job class registered as ``name`` (its job_name), or the unique class of that bare name.

    Raises:
        UnknownJobClassError: nothing registered matches; nothing is ever imported.
    """
    if isinstance(name, str):
        found = _job_classes.get(name)
        if found is not None:
            return found
    raise UnknownJobClassError(str(name))


def find_by_class_name(name: str) -> type[ApplicationJob]:
    """The job class whose job_name or bare class name is ``name`` (bare names must be unique)."""
    found = _job_classes.get(name)
    if found is not None:
        return found
    matches = [cls for cls in _job_classes.values() if cls.__name__ == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(sorted(cls.job_name for cls in matches))
        raise UnknownJobClassError(f"{name} (ambiguous: {names})")
    raise UnknownJobClassError(name)


def job_classes() -> list[type[ApplicationJob]]:
    """Every registered job class."""
    return list(_job_classes.values())


def add_listener(listener: Listener) -> None:
    """Call ``listener(job_class)`` for every class registered from now on."""
    _listeners.add(listener)


def snapshot() -> dict[str, type[ApplicationJob]]:
    """A copy of the registry (tests restore it with :func:`restore`)."""
    return dict(_job_classes)


def restore(saved: dict[str, type[ApplicationJob]]) -> None:
    """Put back a snapshot taken with :func:`snapshot`."""
    _job_classes.clear()
    _job_classes.update(saved)
