"""Serializers for the standard-library types that JSON cannot carry."""

from __future__ import annotations

import enum
import math
import sys
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .base import ObjectSerializer


class DateTimeSerializer(ObjectSerializer):
    """A datetime keeps its offset (naive stays naive) and its IANA zone when it has one."""

    klass = datetime
    name = "datetime"

    def serialize(self, value: datetime) -> dict[str, Any]:
        """Fields that describe ``value``."""
        data: dict[str, Any] = {"value": value.isoformat(timespec="microseconds")}
        if isinstance(value.tzinfo, ZoneInfo):
            data["time_zone"] = value.tzinfo.key
        return data

    def deserialize(self, data: dict[str, Any]) -> datetime:
        """Rebuild the value from its fields."""
        value = datetime.fromisoformat(data["value"])
        zone = data.get("time_zone")
        return value.astimezone(ZoneInfo(zone)) if zone else value


class DateSerializer(ObjectSerializer):
    """A date as ``YYYY-MM-DD``."""

    klass = date
    name = "date"

    def accepts(self, value: object) -> bool:
        """Whether this serializer handles ``value``."""
        return isinstance(value, date) and not isinstance(value, datetime)

    def serialize(self, value: date) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": value.isoformat()}

    def deserialize(self, data: dict[str, Any]) -> date:
        """Rebuild the value from its fields."""
        return date.fromisoformat(data["value"])


class TimeSerializer(ObjectSerializer):
    """A time of day, with its offset if it has one."""

    klass = time
    name = "time"

    def serialize(self, value: time) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": value.isoformat(timespec="microseconds")}

    def deserialize(self, data: dict[str, Any]) -> time:
        """Rebuild the value from its fields."""
        return time.fromisoformat(data["value"])


class TimeDeltaSerializer(ObjectSerializer):
    """A timedelta as exact integer parts, with ``value`` in seconds for readers of the payload."""

    klass = timedelta
    name = "timedelta"

    def serialize(self, value: timedelta) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {
            "value": value.total_seconds(),
            "days": value.days,
            "seconds": value.seconds,
            "microseconds": value.microseconds,
        }

    def deserialize(self, data: dict[str, Any]) -> timedelta:
        """Rebuild the value from its fields."""
        return timedelta(
            days=int(data["days"]),
            seconds=int(data["seconds"]),
            microseconds=int(data["microseconds"]),
        )


class DecimalSerializer(ObjectSerializer):
    """A Decimal as its exact string."""

    klass = Decimal
    name = "decimal"

    def serialize(self, value: Decimal) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": str(value)}

    def deserialize(self, data: dict[str, Any]) -> Decimal:
        """Rebuild the value from its fields."""
        if not isinstance(data["value"], str):
            raise ValueError("a decimal value must be a string")
        return Decimal(data["value"])


class UUIDSerializer(ObjectSerializer):
    """A UUID as its canonical string."""

    klass = uuid.UUID
    name = "uuid"

    def serialize(self, value: uuid.UUID) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": str(value)}

    def deserialize(self, data: dict[str, Any]) -> uuid.UUID:
        """Rebuild the value from its fields."""
        return uuid.UUID(data["value"])


class FloatSerializer(ObjectSerializer):
    """Non-finite floats (nan, inf), which strict JSON cannot carry."""

    klass = float
    name = "float"

    def accepts(self, value: object) -> bool:
        """Whether this serializer handles ``value``."""
        return isinstance(value, float) and not math.isfinite(value)

    def serialize(self, value: float) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": repr(value)}

    def deserialize(self, data: dict[str, Any]) -> float:
        """Rebuild the value from its fields."""
        if data["value"] not in ("nan", "inf", "-inf"):
            raise ValueError(f"not a non-finite float: {data['value']!r}")
        return float(data["value"])


class EnumSerializer(ObjectSerializer):
    """An Enum member by class path and member name.

    The class is looked up among modules this process has already imported, and must be an Enum:
    nothing named in a payload is ever imported.
    """

    klass = enum.Enum
    name = "enum"

    def serialize(self, value: enum.Enum) -> dict[str, Any]:
        """Fields that describe ``value``."""
        cls = type(value)
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "name": value.name}

    def deserialize(self, data: dict[str, Any]) -> enum.Enum:
        """Rebuild the value from its fields."""
        module_name, _, qualname = str(data["class"]).partition(":")
        found: Any = sys.modules.get(module_name)
        if found is None:
            raise ValueError(f"enum module {module_name!r} is not imported in this process")
        for part in qualname.split("."):
            # vars(), not getattr(): a module's __getattr__ may import submodules (dateutil does).
            found = vars(found).get(part) if hasattr(found, "__dict__") else None
        if not (isinstance(found, type) and issubclass(found, enum.Enum)):
            raise ValueError(f"{data['class']!r} is not an Enum class")
        return found[data["name"]]


class _ContainerSerializer(ObjectSerializer):
    """A container whose items the argument encoder walks (the ``value`` list)."""

    def serialize(self, value: Any) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": list(value)}

    def deserialize(self, data: dict[str, Any]) -> Any:
        """Rebuild the value from its fields."""
        if not isinstance(data["value"], list):
            raise ValueError(f"{self.name} value must be a list")
        return self.klass(data["value"])


class TupleSerializer(_ContainerSerializer):
    """A tuple, so that it comes back as a tuple rather than a list."""

    klass = tuple
    name = "tuple"


class SetSerializer(_ContainerSerializer):
    """A set."""

    klass = set
    name = "set"


class FrozenSetSerializer(_ContainerSerializer):
    """A frozenset."""

    klass = frozenset
    name = "frozenset"


class DictSerializer(ObjectSerializer):
    """A dict with non-string keys or keys that start with ``_aj_``, as a list of pairs."""

    klass = dict
    name = "dict"

    def serialize(self, value: dict[Any, Any]) -> dict[str, Any]:
        """Fields that describe ``value``."""
        return {"value": [[key, item] for key, item in value.items()]}

    def deserialize(self, data: dict[str, Any]) -> dict[Any, Any]:
        """Rebuild the value from its fields."""
        pairs = data["value"]
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in pairs
        ):
            raise ValueError("dict value must be a list of [key, value] pairs")
        return {key: item for key, item in pairs}


BUILTIN_SERIALIZERS: tuple[type[ObjectSerializer], ...] = (
    DateTimeSerializer,
    DateSerializer,
    TimeSerializer,
    TimeDeltaSerializer,
    DecimalSerializer,
    UUIDSerializer,
    FloatSerializer,
    EnumSerializer,
    TupleSerializer,
    SetSerializer,
    FrozenSetSerializer,
    DictSerializer,
)
