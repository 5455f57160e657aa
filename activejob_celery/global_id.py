"""Model references: ``gid://app/Model/id`` URIs and the locators that fetch records back.

Models travel as references and are fetched again when the job runs, the GlobalID idea from
Rails. An object takes part by having a ``to_global_id()`` method; a locator registered for the
URI's app turns the reference back into a record.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import quote, unquote

_SCHEME = "gid://"
_MAX_KEY_PARTS = 20
"""Parts of a composite key a URI may carry (rails/globalid's limit)."""


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
    model_id: str | int | tuple[str | int, ...]
    """One id, or a tuple for a composite key (joined by ``/`` in the URI)."""

    def __str__(self) -> str:
        parts = self.model_id if isinstance(self.model_id, tuple) else (self.model_id,)
        ids = "/".join(quote(str(part), safe="") for part in parts)
        return f"{_SCHEME}{self.app}/{self.model_name}/{ids}"

    @classmethod
    def parse(cls, uri: str) -> GlobalID:
        """Parse ``gid://app/Model/id``; raises ValueError for anything else."""
        if not isinstance(uri, str) or not uri.startswith(_SCHEME):
            raise ValueError(f"not a global id: {uri!r}")
        parts = uri[len(_SCHEME) :].split("/")
        if not 3 <= len(parts) <= 2 + _MAX_KEY_PARTS or not all(parts):
            raise ValueError(f"not a global id: {uri!r}")
        ids = tuple(unquote(part) for part in parts[2:])
        return cls(parts[0], parts[1], ids[0] if len(ids) == 1 else ids)


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
    return _checked_uri(value, gid)


def _checked_uri(value: object, gid: GlobalID | str) -> str:
    if isinstance(gid, GlobalID) and _missing_id(gid.model_id):
        raise ValueError(
            f"Unable to serialize {type(value).__qualname__} without an id "
            "(Maybe you forgot to call save?)"
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


def _missing_id(model_id: object) -> bool:
    if isinstance(model_id, tuple):
        return not model_id or any(part in (None, "") for part in model_id)
    return model_id in (None, "")


# --- models without code (Django, SQLAlchemy) ---

_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def check_app_name(name: object) -> str:
    """``name`` if it can be a GlobalID app (a URI host); ValueError otherwise.

    Example:
        >>> check_app_name("shop")
        'shop'
    """
    if not isinstance(name, str) or not _HOST.match(name):
        raise ValueError(f"GlobalID app name {name!r} must be a valid URI host, like 'shop'")
    return name


Identifier = Callable[[object], "GlobalID | None"]
_identifiers: list[Identifier] = []


def add_identifier(identify: Identifier) -> None:
    """Let objects without ``to_global_id()`` travel as references.

    ``identify(value)`` returns their GlobalID, or None for values it does not know. The Django
    and SQLAlchemy integrations use it so models need no code of their own.

    Example:
        >>> add_identifier(lambda value: None)                  # doctest: +SKIP
    """
    if identify not in _identifiers:
        _identifiers.append(identify)


def remove_identifier(identify: Identifier) -> None:
    """Forget an identifier added with :func:`add_identifier`."""
    if identify in _identifiers:
        _identifiers.remove(identify)


def identified_uri(value: object) -> str | None:
    """The URI an identifier gives ``value``, or None when no identifier knows it.

    Raises:
        ValueError: the value is a model without an id (not saved yet).

    Example:
        >>> identified_uri(object()) is None
        True
    """
    for identify in _identifiers:
        gid = identify(value)
        if gid is not None:
            return _checked_uri(value, gid)
    return None


def locate_many(uris: list[str]) -> list[object]:
    """Fetch the records ``uris`` name, in order.

    One call per app and model when the app's locator has a ``locate_many(gids)`` method (one
    query per model class); one ``locate`` per record otherwise.

    Raises:
        LookupError: no locator for an app, or a record is missing.

    Example:
        >>> locate_many(["gid://shop/Guest/1", "gid://shop/Guest/2"])  # doctest: +SKIP
        [<Guest 1>, <Guest 2>]
    """
    gids = [GlobalID.parse(uri) for uri in uris]
    found: list[object] = [None] * len(gids)
    groups: dict[tuple[str, str], list[int]] = {}
    for index, gid in enumerate(gids):
        groups.setdefault((gid.app, gid.model_name), []).append(index)
    for (app, _model), indexes in groups.items():
        locator = _locators.get(app)
        many = getattr(locator, "locate_many", None)
        if locator is None or many is None:
            for index in indexes:
                found[index] = locate(uris[index])
            continue
        records = many([gids[index] for index in indexes])
        for index, record in zip(indexes, records, strict=True):
            if record is None:
                gid = gids[index]
                raise LookupError(
                    f"Couldn't find {gid.model_name} with id {gid.model_id!r} ({uris[index]})"
                )
            found[index] = record
    return found
