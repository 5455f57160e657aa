"""SQLAlchemy mapped objects as GlobalIDs: ``gid://<app>/<module.Class>/<pk>[/<pk>...]``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstanceState, Mapper, Session

from ...global_id import GlobalID
from ..loaded import loaded_object

LOCATOR_SESSION = "activejob_locator"
"""``Session.info`` key marking the sessions the locator opens (never deferring enqueues)."""


def model_name(cls: type) -> str:
    """The GlobalID model name of a mapped class: ``module.QualName``.

    Example:
        >>> model_name(LineItem)                                # doctest: +SKIP
        'shop.models.LineItem'
    """
    return f"{cls.__module__}.{cls.__qualname__}"


def identify_for(app_name: str) -> Callable[[object], GlobalID | None]:
    """The identifier of mapped objects for GlobalIDs of ``app_name``."""

    def identify(value: object) -> GlobalID | None:
        state = sa.inspect(value, raiseerr=False)
        if not isinstance(state, InstanceState):
            return None
        key: Sequence[Any] | None = state.identity
        if key is None:  # pending or transient: the key the object would be stored under
            key = state.mapper.primary_key_from_instance(value)
        parts = tuple(key)
        model_id: Any = parts[0] if len(parts) == 1 else parts
        return GlobalID(app_name, model_name(type(value)), model_id)

    return identify


def mapped_class(name: str) -> tuple[type, Mapper[Any]]:
    """The mapped class ``module.QualName`` names, among loaded modules; LookupError if none.

    The class's module must be imported already (the worker imports its models with its
    jobs): a name from a message never imports anything.

    Example:
        >>> mapped_class("shop.models.LineItem")[0]             # doctest: +SKIP
        <class 'shop.models.LineItem'>
    """
    target = loaded_object(name)
    mapper: Any = sa.inspect(target, raiseerr=False) if isinstance(target, type) else None
    if not isinstance(mapper, Mapper):
        raise LookupError(f"{name!r} is not a mapped class")
    return target, mapper


class SQLAlchemyLocator:
    """Locates with a session from ``session_factory``, one per thread, closed after each job.

    Example:
        >>> locator = SQLAlchemyLocator(Session)                 # doctest: +SKIP
        >>> locator(GlobalID.parse("gid://db/shop.models.Order/1"))   # doctest: +SKIP
        <Order 1>
    """

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory
        self._local = threading.local()

    def session(self) -> Session:
        """This thread's locating session (opened on first use)."""
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self.session_factory()
            session.info[LOCATOR_SESSION] = True
            self._local.session = session
        return session

    def close(self, *args: Any, **kwargs: Any) -> None:
        """Close this thread's locating session (after a job; a signal receiver)."""
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is not None:
            session.close()

    def __call__(self, gid: GlobalID) -> object:
        """The record, or None when it does not exist."""
        cls, mapper = mapped_class(gid.model_name)
        return self.session().get(cls, self.key(mapper, gid))

    def locate_many(self, gids: Sequence[GlobalID]) -> list[object]:
        """The records of one class in the order given, in one query (None for missing ones)."""
        cls, mapper = mapped_class(gids[0].model_name)
        keys = [self.key(mapper, gid) for gid in gids]
        columns = mapper.primary_key
        if len(columns) == 1:
            condition = columns[0].in_({key[0] for key in keys})
        else:
            condition = sa.tuple_(*columns).in_(set(keys))
        rows: Sequence[Any] = self.session().scalars(sa.select(cls).where(condition)).all()
        found = {tuple(sa.inspect(row).identity or ()): row for row in rows}
        return [found.get(key) for key in keys]

    @staticmethod
    def key(mapper: Mapper[Any], gid: GlobalID) -> tuple[Any, ...]:
        """The primary key of ``gid`` with each part converted to its column's Python type."""
        parts = gid.model_id if isinstance(gid.model_id, tuple) else (gid.model_id,)
        columns = mapper.primary_key
        if len(parts) != len(columns):
            raise LookupError(
                f"{gid} has {len(parts)} key parts; {mapper.class_} has {len(columns)}"
            )
        return tuple(_convert(column, part) for column, part in zip(columns, parts, strict=True))


def _convert(column: Any, part: str | int) -> Any:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return part
    if python_type is str or isinstance(part, python_type):
        return part
    return python_type(part)
