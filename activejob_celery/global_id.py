"""Model references: ``gid://app/Model/id`` URIs and the locators that fetch records back.

Models travel as references and are fetched again when the job runs, the GlobalID idea from
Rails. An object takes part by having a ``to_global_id()`` method; a locator registered for the
URI's app turns the reference back into a record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import quote, unquote

_SCHEME = "gid://"


@dataclasses.dataclass(frozen=True, slots=True)
class GlobalID:
    """A reference to a record: app, model name and id.

    Example:
        >>> gid = GlobalID.parse("gid://shop/Guest/42")
        >>> gid.model_name, gid.model_id
        ('Guest', '42')
        >>> str(GlobalID("shop", "Guest", 42))
        'gid://shop/Guest/42'
    """

    app: str
    model_name: str
    model_id: str | int

    def __str__(self) -> str:
        return f"{_SCHEME}{self.app}/{self.model_name}/{quote(str(self.model_id), safe='')}"

    @classmethod
    def parse(cls, uri: str) -> GlobalID:
        """Parse ``gid://app/Model/id``; raises ValueError for anything else."""
        if not isinstance(uri, str) or not uri.startswith(_SCHEME):
            raise ValueError(f"not a global id: {uri!r}")
        parts = uri[len(_SCHEME) :].split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"not a global id: {uri!r}")
        return cls(parts[0], parts[1], unquote(parts[2]))


@runtime_checkable
class Identifiable(Protocol):
    """Anything with ``to_global_id()`` travels as a reference."""

    def to_global_id(self) -> GlobalID | str:
        """Return this record's global id."""


Locator = Callable[[GlobalID], object]
_locators: dict[str, Locator] = {}


def add_locator(app: str, locate: Locator) -> None:
    """Register how records of ``app`` are fetched: ``locate(gid)`` returns the record or None.

    Example:
        >>> def find_guest(gid):
        ...     return Guest.objects.filter(pk=gid.model_id).first()
        >>> add_locator("shop", find_guest)
    """
    _locators[app] = locate


def remove_locator(app: str) -> None:
    """Forget the locator of ``app``."""
    _locators.pop(app, None)


def to_global_id(value: Identifiable) -> str:
    """The URI of ``value``, validated."""
    gid = value.to_global_id()
    if isinstance(gid, GlobalID) and gid.model_id in (None, ""):
        raise ValueError(
            f"Unable to serialize {type(value).__qualname__} without an id "
            "(maybe it was not saved yet?)"
        )
    uri = str(gid)
    GlobalID.parse(uri)
    return uri


def locate(uri: str) -> object:
    """Fetch the record ``uri`` names; LookupError when there is no locator or no record."""
    gid = GlobalID.parse(uri)
    locator = _locators.get(gid.app)
    if locator is None:
        raise LookupError(f"no locator registered for app {gid.app!r} (see add_locator)")
    record = locator(gid)
    if record is None:
        raise LookupError(f"Couldn't find {gid.model_name} with id {gid.model_id!r} ({uri})")
    return record
