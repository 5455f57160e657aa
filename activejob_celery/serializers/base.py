"""The base class for argument serializers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar


class ObjectSerializer(ABC):
    """Encode one Python type as a JSON object tagged ``{"_aj_serialized": name}``.

    Subclass it, set ``klass`` to the type it handles, implement ``serialize`` and ``deserialize``,
    and register it with :func:`~activejob_celery.add_serializers`. The values of the dict that
    ``serialize`` returns may be anything the argument encoder handles (datetimes, lists, ...);
    ``deserialize`` receives them decoded. ``name`` is the stable tag written on the wire; it
    defaults to ``"<module>.<qualname>"`` of the serializer class, so set it before renaming one.

    Example:
        >>> class MoneySerializer(ObjectSerializer):
        ...     klass = Money
        ...     def serialize(self, money):
        ...         return {"cents": money.cents, "currency": money.currency}
        ...     def deserialize(self, data):
        ...         return Money(data["cents"], data["currency"])
        >>> add_serializers(MoneySerializer)                    # doctest: +SKIP
    """

    klass: ClassVar[type[Any]]
    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = f"{cls.__module__}.{cls.__qualname__}"

    def accepts(self, value: object) -> bool:
        """Whether this serializer handles ``value`` (Rails ``serialize?``); default isinstance."""
        return isinstance(value, self.klass)

    @abstractmethod
    def serialize(self, value: Any) -> dict[str, Any]:
        """Return the fields that describe ``value``; string keys, encodable values."""

    @abstractmethod
    def deserialize(self, data: dict[str, Any]) -> Any:
        """Rebuild the value from the fields ``serialize`` returned (already decoded)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} for {self.klass.__qualname__}>"
