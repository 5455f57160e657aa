"""Job arguments on the wire: JSON values, tagged objects, model references and keywords.

JSON primitives, lists and string-keyed dicts pass through. Keyword arguments travel as a trailing
dict tagged ``_aj_kwargs``. Other values become ``{"_aj_serialized": name, ...}`` through the
serializer registry, and records with ``to_global_id()`` become ``{"_aj_globalid": uri}``. A user
dict whose keys are not all strings, or that uses a reserved ``_aj_`` key, travels in pairs form,
so nothing a user writes is ever misread as a tag.
"""

from __future__ import annotations

import math
from typing import Any

from . import global_id
from .errors import DeserializationError, SerializationError
from .serializers import dict_serializer, serializer_for, serializer_named

SERIALIZED_KEY = "_aj_serialized"
GLOBALID_KEY = "_aj_globalid"
KWARGS_KEY = "_aj_kwargs"
RESERVED_PREFIX = "_aj_"

_PASS_THROUGH = frozenset((str, int, bool, type(None)))


def serialize_arguments(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """Encode positional and keyword arguments into a JSON-ready list.

    Example:
        >>> serialize_arguments((42,), {"notify": True})
        [42, {'notify': True, '_aj_kwargs': ['notify']}]
    """
    encoded = [serialize_argument(value) for value in args]
    if kwargs:
        keywords: dict[str, Any] = {}
        for name, value in kwargs.items():
            if not isinstance(name, str) or name.startswith(RESERVED_PREFIX):
                raise SerializationError(
                    f"Keyword argument name {name!r} cannot be serialized: names must be strings "
                    f"that do not start with {RESERVED_PREFIX!r}"
                )
            keywords[name] = serialize_argument(value)
        keywords[KWARGS_KEY] = list(kwargs)
        encoded.append(keywords)
    return encoded


def serialize_argument(value: Any) -> Any:
    """Encode one value; raises SerializationError for types nothing knows how to encode."""
    kind = type(value)
    if kind in _PASS_THROUGH:
        return value
    if kind is float:
        return value if math.isfinite(value) else _tagged(serializer_for(value), value)
    if kind is list:
        return [serialize_argument(item) for item in value]
    if kind is dict:
        return _serialize_dict(value)
    serializer = serializer_for(value)
    if serializer is not None:
        return _tagged(serializer, value)
    if isinstance(value, global_id.Identifiable):
        try:
            return {GLOBALID_KEY: global_id.to_global_id(value)}
        except ValueError as error:
            raise SerializationError(
                f"Unable to serialize {kind.__qualname__} as a global id: {error}"
            ) from error
    try:  # a model an integration knows (Django, SQLAlchemy): no code in the model
        uri = global_id.identified_uri(value)
    except ValueError as error:
        raise SerializationError(str(error)) from error
    if uri is not None:
        return {GLOBALID_KEY: uri}
    if isinstance(value, list):
        return [serialize_argument(item) for item in value]
    if isinstance(value, dict):
        return _serialize_dict(value)
    # Subclasses of the JSON scalars (e.g. Django's SafeString) travel as the plain value, as
    # Rails sends String subclasses; enums and bools were handled above.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return serialize_argument(float(value))
    raise SerializationError(
        f"Unsupported argument type: {kind.__module__}.{kind.__qualname__}. Pass JSON values, "
        "a supported standard type, a record with to_global_id(), or register a serializer: "
        "subclass activejob_celery.ObjectSerializer with klass = "
        f"{kind.__qualname__} and call activejob_celery.add_serializers(YourSerializer)."
    )


def _serialize_dict(value: dict[Any, Any]) -> dict[str, Any]:
    for key in value:
        if type(key) is not str or key.startswith(RESERVED_PREFIX):
            return _tagged(dict_serializer(), value)
    return {key: serialize_argument(item) for key, item in value.items()}


def _tagged(serializer: Any, value: Any) -> dict[str, Any]:
    fields = serializer.serialize(value)
    encoded = {SERIALIZED_KEY: serializer.name}
    for key, item in fields.items():
        if not isinstance(key, str) or key == SERIALIZED_KEY:
            raise SerializationError(
                f"{type(serializer).__qualname__}.serialize returned the key {key!r}; keys must "
                f"be strings other than {SERIALIZED_KEY!r}"
            )
        encoded[key] = serialize_argument(item)
    return encoded


def deserialize_arguments(encoded: Any) -> tuple[list[Any], dict[str, Any]]:
    """Decode a payload's ``arguments`` into ``(args, kwargs)``.

    Raises:
        DeserializationError: from the original error, for anything that cannot be decoded.

    Example:
        >>> deserialize_arguments([42, {"notify": True, "_aj_kwargs": ["notify"]}])
        ([42], {'notify': True})
    """
    try:
        if type(encoded) is not list:
            raise ValueError(f"arguments must be a list, not {type(encoded).__name__}")
        kwargs: dict[str, Any] = {}
        items = encoded
        last = encoded[-1] if encoded else None
        if type(last) is dict and KWARGS_KEY in last:
            items = encoded[:-1]
            kwargs = _deserialize_kwargs(last)
        return [deserialize_argument(item) for item in items], kwargs
    except DeserializationError:
        raise
    except Exception as error:
        raise DeserializationError(str(error) or type(error).__name__) from error


def _deserialize_kwargs(encoded: dict[str, Any]) -> dict[str, Any]:
    names = encoded[KWARGS_KEY]
    keys = [key for key in encoded if key != KWARGS_KEY]
    if type(names) is not list or sorted(map(str, names)) != sorted(keys):
        raise ValueError(f"{KWARGS_KEY} does not list the keyword arguments present")
    return {key: deserialize_argument(encoded[key]) for key in keys}


def deserialize_argument(value: Any) -> Any:
    """Decode one value; raises ValueError/LookupError (wrapped by ``deserialize_arguments``)."""
    kind = type(value)
    if kind in _PASS_THROUGH or kind is float:
        return value
    if kind is list:
        if len(value) > 1 and all(_is_reference(item) for item in value):
            return global_id.locate_many([item[GLOBALID_KEY] for item in value])  # batched
        return [deserialize_argument(item) for item in value]
    if kind is not dict:
        raise ValueError(f"unsupported JSON type {kind.__name__}")
    if SERIALIZED_KEY in value:
        name = value[SERIALIZED_KEY]
        serializer = serializer_named(name) if isinstance(name, str) else None
        if serializer is None:
            raise ValueError(
                f"Serializer {name!r} is not registered (register it with add_serializers)"
            )
        fields = {
            key: deserialize_argument(item) for key, item in value.items() if key != SERIALIZED_KEY
        }
        return serializer.deserialize(fields)
    if GLOBALID_KEY in value:
        if len(value) != 1:
            raise ValueError(f"{GLOBALID_KEY} must be the only key of its object")
        return global_id.locate(value[GLOBALID_KEY])
    decoded = {}
    for key, item in value.items():
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"unexpected reserved key {key!r}")
        decoded[key] = deserialize_argument(item)
    return decoded


def _is_reference(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and type(value.get(GLOBALID_KEY)) is str
