"""The seeds' Active Record models, in memory: users, events, cards, orders, payments, reports.

Records travel as GlobalIDs (``gid://seeds/<Model>/<id>``), as Rails sends them; ``Table.find``
raises :class:`RecordNotFound` as ``Model.find`` does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from activejob_celery import GlobalID, add_locator


class RecordNotFound(LookupError):
    """Rails' ``ActiveRecord::RecordNotFound``."""


@dataclass(eq=False)
class Record:
    """A row: an id, a status, named attributes, and a lock (``with_lock``)."""

    id: int
    status: str = "pending"
    attributes: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    model: ClassVar[str] = "Record"

    def to_global_id(self) -> GlobalID:
        return GlobalID("seeds", type(self).model, self.id)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and getattr(other, "id", None) == self.id

    def __hash__(self) -> int:
        return hash((type(self).model, self.id))


class Table:
    """All rows of every model, keyed by (model, id)."""

    rows: ClassVar[dict[tuple[str, int], Record]] = {}

    @classmethod
    def create(cls, record_class: type[Record], **attributes: Any) -> Any:
        ids = [key[1] for key in cls.rows if key[0] == record_class.model]
        record = record_class(id=max(ids, default=0) + 1, **attributes)
        cls.rows[(record_class.model, record.id)] = record
        return record

    @classmethod
    def find(cls, record_class: type[Record], record_id: int) -> Any:
        try:
            return cls.rows[(record_class.model, int(record_id))]
        except KeyError:
            raise RecordNotFound(
                f"Couldn't find {record_class.model} with 'id'={record_id}"
            ) from None

    @classmethod
    def locate(cls, gid: GlobalID) -> Record | None:
        return cls.rows.get((gid.model_name, int(gid.model_id)))


add_locator("seeds", Table.locate)


@dataclass
class Mail:
    """A delivered mail (Rails' ``ActionMailer::Base.deliveries`` holds these)."""

    to: list[str]
    subject: str
    body: str = ""

    def deliver_now(self) -> None:
        deliveries.append(self)


deliveries: list[Mail] = []
"""Rails' ``ActionMailer::Base.deliveries``."""


def welcome(user: Record) -> Mail:
    """``UserMailer.welcome(user)``."""
    email = user.attributes.get("email", f"user{user.id}@example.com")
    return Mail(to=[email], subject="Welcome!", body=f"Hello {user.attributes.get('name', '')}")
