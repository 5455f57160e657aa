"""The serializer registry: exact-type index first, then ``accepts`` in registration order."""

from __future__ import annotations

from .base import ObjectSerializer
from .builtin import BUILTIN_SERIALIZERS, DictSerializer

__all__ = [
    "ObjectSerializer",
    "add_serializers",
    "dict_serializer",
    "registered_serializers",
    "serializer_for",
    "serializer_named",
]

_by_name: dict[str, ObjectSerializer] = {}
_by_type: dict[type, ObjectSerializer] = {}
_in_order: list[ObjectSerializer] = []


def add_serializers(*serializer_classes: type[ObjectSerializer]) -> None:
    """Register serializers for argument types (Rails ``ActiveJob::Serializers.add_serializers``).

    A name registered again is replaced, so re-importing a module is harmless.

    Example:
        >>> add_serializers(MoneySerializer)                    # doctest: +SKIP
    """
    for serializer_class in serializer_classes:
        if not (
            isinstance(serializer_class, type) and issubclass(serializer_class, ObjectSerializer)
        ):
            raise TypeError(f"{serializer_class!r} is not an ObjectSerializer subclass")
        serializer = serializer_class()
        previous = _by_name.pop(serializer.name, None)
        if previous is not None:
            _in_order.remove(previous)
            _by_type.pop(previous.klass, None)
        _by_name[serializer.name] = serializer
        _in_order.append(serializer)
        if type(serializer).accepts is ObjectSerializer.accepts:
            _by_type[serializer.klass] = serializer  # the latest registration for a type wins


def serializer_for(value: object) -> ObjectSerializer | None:
    """The serializer that handles ``value``, or None."""
    found = _by_type.get(type(value))
    if found is not None:
        return found
    for serializer in _in_order:
        if serializer.accepts(value):
            return serializer
    return None


def serializer_named(name: str) -> ObjectSerializer | None:
    """The registered serializer whose wire tag is ``name``."""
    return _by_name.get(name)


def registered_serializers() -> list[ObjectSerializer]:
    """Every registered serializer, in lookup order."""
    return list(_in_order)


_dict_serializer = DictSerializer()


def dict_serializer() -> ObjectSerializer:
    """The pairs-form serializer used for dicts that cannot travel as JSON objects."""
    return _dict_serializer


add_serializers(*(cls for cls in BUILTIN_SERIALIZERS if cls is not DictSerializer))
_by_name[_dict_serializer.name] = _dict_serializer
