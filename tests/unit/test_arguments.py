"""Argument encoding: the wire form of each type, errors, and hypothesis round trips."""

from __future__ import annotations

import enum
import json
import math
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from activejob_celery import DeserializationError, SerializationError, serialize_arguments
from activejob_celery.arguments import deserialize_arguments, serialize_argument
from tests.unit import lazy_canary


class Color(enum.Enum):
    RED = "red"
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 9


class Mood(str, enum.Enum):
    HAPPY = "happy"


class Palette:
    class Shade(enum.Enum):
        DARK = "dark"


def round_trip(args: Any = (), kwargs: dict[str, Any] | None = None) -> tuple[list[Any], dict]:
    """Encode, go through strict JSON text, decode."""
    encoded = serialize_arguments(args, kwargs or {})
    text = json.dumps(encoded, allow_nan=False)
    return deserialize_arguments(json.loads(text))


def encode(value: Any) -> Any:
    return serialize_arguments([value], {})[0]


# --------------------------------------------------------------------------- wire forms


def test_json_values_pass_through_unchanged():
    values = [
        None,
        True,
        False,
        0,
        -7,
        2**80,
        1.5,
        -0.0,
        "",
        "text",
        [1, [2, "x"]],
        {"a": {"b": 1}},
    ]
    assert serialize_arguments(values, {}) == values
    assert round_trip(values) == (values, {})


def test_keyword_arguments_travel_as_a_trailing_tagged_dict():
    encoded = serialize_arguments((42,), {"notify": True, "at": date(2026, 1, 2)})
    assert encoded == [
        42,
        {
            "notify": True,
            "at": {"_aj_serialized": "date", "value": "2026-01-02"},
            "_aj_kwargs": ["notify", "at"],
        },
    ]
    assert round_trip((42,), {"notify": True, "at": date(2026, 1, 2)}) == (
        [42],
        {"notify": True, "at": date(2026, 1, 2)},
    )


def test_no_keyword_arguments_means_no_trailing_dict():
    assert serialize_arguments((1, {"a": 1}), {}) == [1, {"a": 1}]
    assert round_trip((1, {"a": 1})) == ([1, {"a": 1}], {})


def test_a_positional_dict_that_looks_like_kwargs_is_not_misread():
    tricky = {"x": 1, "_aj_kwargs": ["x"]}
    encoded = serialize_arguments((tricky,), {})
    assert encoded[0]["_aj_serialized"] == "dict"
    assert round_trip((tricky,)) == ([tricky], {})


@pytest.mark.parametrize("name", ["_aj_kwargs", "_aj_anything", 3])
def test_keyword_names_must_be_plain_strings(name):
    with pytest.raises(SerializationError, match="Keyword argument name"):
        serialize_arguments((), {name: 1})


def test_datetime_keeps_its_offset_and_naive_stays_naive():
    aware = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=timezone(timedelta(hours=-3)))
    naive = datetime(2026, 3, 4, 5, 6, 7)
    assert encode(aware) == {
        "_aj_serialized": "datetime",
        "value": "2026-03-04T05:06:07.000890-03:00",
    }
    assert encode(naive) == {"_aj_serialized": "datetime", "value": "2026-03-04T05:06:07.000000"}
    [back_aware, back_naive], _ = round_trip((aware, naive))
    assert back_aware == aware
    assert back_aware.utcoffset() == timedelta(hours=-3)
    assert back_naive == naive
    assert back_naive.tzinfo is None


def test_datetime_in_an_iana_zone_comes_back_in_that_zone():
    tokyo = datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert encode(tokyo) == {
        "_aj_serialized": "datetime",
        "value": "2026-07-01T09:30:00.000000+09:00",
        "time_zone": "Asia/Tokyo",
    }
    [back], _ = round_trip((tokyo,))
    assert back == tokyo
    assert back.tzinfo == ZoneInfo("Asia/Tokyo")
    assert (back.hour, back.minute) == (9, 30)


def test_dst_ambiguous_time_keeps_its_fold():
    zone = ZoneInfo("America/New_York")
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=zone)
    [back], _ = round_trip((second,))
    assert back.utcoffset() == timedelta(hours=-5)
    assert back.fold == 1
    assert back.astimezone(timezone.utc) == second.astimezone(timezone.utc)


def test_date_time_timedelta_wire_forms():
    assert encode(date(2026, 2, 28)) == {"_aj_serialized": "date", "value": "2026-02-28"}
    assert encode(time(7, 8, 9, 10)) == {"_aj_serialized": "time", "value": "07:08:09.000010"}
    assert encode(time(7, 8, tzinfo=timezone.utc)) == {
        "_aj_serialized": "time",
        "value": "07:08:00.000000+00:00",
    }
    assert encode(timedelta(days=-1, seconds=5, microseconds=7)) == {
        "_aj_serialized": "timedelta",
        "value": -86394.999993,
        "days": -1,
        "seconds": 5,
        "microseconds": 7,
    }
    values = [date(2026, 2, 28), time(7, 8, 9, 10), time(1, 2, tzinfo=timezone.utc), timedelta(0)]
    assert round_trip(values) == (values, {})


def test_a_datetime_is_never_encoded_as_a_date():
    assert encode(datetime(2026, 1, 1))["_aj_serialized"] == "datetime"
    [back], _ = round_trip((date(2026, 1, 1),))
    assert type(back) is date


def test_decimal_uuid_and_non_finite_floats():
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert encode(Decimal("1.10")) == {"_aj_serialized": "decimal", "value": "1.10"}
    assert encode(ident) == {"_aj_serialized": "uuid", "value": str(ident)}
    assert encode(math.inf) == {"_aj_serialized": "float", "value": "inf"}
    assert encode(-math.inf) == {"_aj_serialized": "float", "value": "-inf"}
    assert encode(math.nan) == {"_aj_serialized": "float", "value": "nan"}
    [dec, back_id, inf, ninf, nan], _ = round_trip(
        (Decimal("1.10"), ident, math.inf, -math.inf, math.nan)
    )
    assert str(dec) == "1.10"
    assert back_id == ident
    assert (inf, ninf) == (math.inf, -math.inf)
    assert math.isnan(nan)


def test_enums_travel_by_class_path_and_member_name():
    assert encode(Color.RED) == {
        "_aj_serialized": "enum",
        "class": f"{__name__}:Color",
        "name": "RED",
    }
    assert encode(Palette.Shade.DARK)["class"] == f"{__name__}:Palette.Shade"
    values = [Color.GREEN, Level.HIGH, Mood.HAPPY, Palette.Shade.DARK]
    decoded, _ = round_trip(values)
    assert decoded == values
    assert [type(v) for v in decoded] == [Color, Level, Mood, Palette.Shade]


def test_tuples_sets_and_frozensets_keep_their_type():
    values = [(1, (2, "x")), {1, 2}, frozenset({"a"}), [(1,)], set()]
    assert encode((1, 2)) == {"_aj_serialized": "tuple", "value": [1, 2]}
    decoded, _ = round_trip(values)
    assert decoded == values
    assert [type(v) for v in decoded] == [tuple, set, frozenset, list, set]
    assert type(decoded[0][1]) is tuple


def test_dicts_with_non_string_or_reserved_keys_travel_as_pairs():
    value = {1: "one", (2, 3): "tuple", "_aj_globalid": "not a ref", "plain": {None: True}}
    encoded = encode(value)
    assert encoded["_aj_serialized"] == "dict"
    assert encoded["value"][0] == [1, "one"]
    assert encoded["value"][1] == [{"_aj_serialized": "tuple", "value": [2, 3]}, "tuple"]
    assert round_trip((value,)) == ([value], {})


@pytest.mark.parametrize(
    "key", ["_aj_serialized", "_aj_globalid", "_aj_kwargs", "_aj_", "_aj_symbol_keys"]
)
def test_user_keys_that_start_with_aj_are_escaped(key):
    value = {key: "user data", "other": 1}
    assert set(encode(value)) == {"_aj_serialized", "value"}
    assert round_trip((value,), {"k": value}) == ([value], {"k": value})


def test_nested_containers_encode_every_level():
    value = {"when": [datetime(2026, 1, 1, tzinfo=timezone.utc), {"ids": (1, 2)}]}
    assert encode(value) == {
        "when": [
            {"_aj_serialized": "datetime", "value": "2026-01-01T00:00:00.000000+00:00"},
            {"ids": {"_aj_serialized": "tuple", "value": [1, 2]}},
        ]
    }
    assert round_trip((value,)) == ([value], {})


def test_list_and_dict_subclasses_travel_as_plain_containers():
    from collections import OrderedDict

    class Tags(list):
        pass

    decoded, _ = round_trip((Tags([1, 2]), OrderedDict(a=1)))
    assert decoded == [[1, 2], {"a": 1}]
    assert [type(v) for v in decoded] == [list, dict]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (object(), "builtins.object"),
        (b"bytes", "builtins.bytes"),
        ([1, {"deep": object()}], "builtins.object"),
        (lambda: None, "function"),
        (type("ApplicationError", (), {}), "builtins.type"),
    ],
)
def test_unsupported_values_raise_serialization_error_naming_the_type(value, type_name):
    with pytest.raises(SerializationError) as excinfo:
        serialize_arguments([value], {})
    message = str(excinfo.value)
    assert message.startswith("Unsupported argument type: ")
    assert type_name in message
    assert "ObjectSerializer" in message
    assert "add_serializers" in message
    assert isinstance(excinfo.value, TypeError)


def test_unsupported_keyword_value_raises_too():
    with pytest.raises(SerializationError, match=r"builtins\.object"):
        serialize_arguments((), {"thing": object()})


def test_serialize_argument_is_the_single_value_encoder():
    assert serialize_argument((1,)) == {"_aj_serialized": "tuple", "value": [1]}


# --------------------------------------------------------------------------- decoding errors


@pytest.mark.parametrize(
    ("encoded", "fragment"),
    [
        ({"not": "a list"}, "arguments must be a list"),
        ([{"_aj_serialized": "nope", "value": 1}], "Serializer 'nope' is not registered"),
        ([{"_aj_globalid": "gid://a/B/1", "extra": 1}], "must be the only key"),
        ([{"_aj_unknown": 1}], "unexpected reserved key"),
        ([{"a": 1, "_aj_kwargs": ["b"]}], "does not list the keyword arguments"),
        ([{"a": 1, "_aj_kwargs": "a"}], "does not list the keyword arguments"),
        ([{"_aj_serialized": "decimal", "value": 1.5}], "decimal value must be a string"),
        ([{"_aj_serialized": "float", "value": "1.5"}], "not a non-finite float"),
        ([{"_aj_serialized": "dict", "value": [[1]]}], "list of [key, value] pairs"),
        ([{"_aj_serialized": "set", "value": "ab"}], "set value must be a list"),
        ([{"_aj_serialized": "uuid", "value": "xyz"}], "badly formed"),
        ([{"_aj_serialized": "datetime"}], "'value'"),
        ([{"_aj_serialized": "enum", "class": "not_imported_mod:E", "name": "A"}], "not imported"),
        ([{"_aj_serialized": "enum", "class": "json:dumps", "name": "A"}], "is not an Enum class"),
        ([{"_aj_serialized": "enum", "class": f"{__name__}:Color", "name": "BLUE"}], "BLUE"),
    ],
)
def test_undecodable_arguments_raise_deserialization_error_from_the_cause(encoded, fragment):
    with pytest.raises(DeserializationError) as excinfo:
        deserialize_arguments(encoded)
    message = str(excinfo.value)
    assert message.startswith("Error while trying to deserialize arguments: ")
    assert fragment in message
    assert excinfo.value.__cause__ is not None
    assert isinstance(excinfo.value, ValueError)


def test_enum_lookup_never_triggers_a_module_getattr():
    lazy_canary.lookups.clear()
    payload = [{"_aj_serialized": "enum", "class": f"{lazy_canary.__name__}:Anything", "name": "A"}]
    with pytest.raises(DeserializationError):
        deserialize_arguments(payload)
    assert lazy_canary.lookups == []


def test_enum_lookup_imports_nothing():
    name = "tests.unit.never_imported_enum_module"
    with pytest.raises(DeserializationError, match="not imported"):
        deserialize_arguments([{"_aj_serialized": "enum", "class": f"{name}:E", "name": "A"}])
    assert name not in sys.modules


# --------------------------------------------------------------------------- property-based


def same(a: Any, b: Any) -> bool:
    """Equal, of the same type, recursively; nan equals nan; zones and offsets must match."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime | time):
        return (
            a == b
            and a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.utcoffset() == b.utcoffset()
            and getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for key, value in a.items():
            matches = [other for other in b if same(key, other)]
            if len(matches) != 1 or not same(value, b[matches[0]]):
                return False
        return True
    return bool(a == b)


fixed_offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
reserved_keys = st.sampled_from(["_aj_kwargs", "_aj_serialized", "_aj_globalid", "_aj_", "_aj_x"])
str_keys = st.text(max_size=8) | reserved_keys
datetimes = st.datetimes(
    min_value=datetime(1000, 1, 1),
    max_value=datetime(9000, 1, 1),
    timezones=st.none() | fixed_offsets | st.timezones(),
    allow_imaginary=False,
)
enums = st.sampled_from([*Color, *Level, *Mood, *Palette.Shade])

hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    datetimes,
    st.dates(),
    st.times(timezones=st.none() | fixed_offsets),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    enums,
)
scalars = st.one_of(
    hashable_scalars,
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.sets(hashables, max_size=3),
        st.frozensets(hashables, max_size=3),
        st.dictionaries(str_keys, inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
    ),
    max_leaves=12,
)
kwarg_names = st.text(max_size=8).filter(lambda name: not name.startswith("_aj_"))


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=4), st.dictionaries(kwarg_names, values, max_size=3))
def test_any_supported_arguments_round_trip_through_strict_json(args, kwargs):
    encoded = serialize_arguments(args, kwargs)
    text = json.dumps(encoded, allow_nan=False)
    decoded_args, decoded_kwargs = deserialize_arguments(json.loads(text))
    assert same(decoded_args, list(args))
    assert same(decoded_kwargs, kwargs)
    assert list(decoded_kwargs) == list(kwargs)


def canonical(node: Any) -> Any:
    """The encoded form with set members in a fixed order (sets have no order of their own)."""
    if isinstance(node, list):
        return [canonical(item) for item in node]
    if isinstance(node, dict):
        result = {key: canonical(item) for key, item in node.items()}
        if result.get("_aj_serialized") in ("set", "frozenset"):
            result["value"] = sorted(
                result["value"], key=lambda item: json.dumps(item, sort_keys=True)
            )
        return result
    return node


@settings(deadline=None)
@given(values)
def test_encoding_is_stable_through_json_and_re_encoding(value):
    once = serialize_arguments([value], {})
    assert json.loads(json.dumps(once)) == once
    decoded, _ = deserialize_arguments(once)
    assert canonical(serialize_arguments(decoded, {})) == canonical(once)


def _keys(node: Any) -> list[Any]:
    if isinstance(node, list):
        return [key for item in node for key in _keys(item)]
    if isinstance(node, dict):
        return [*node, *(key for item in node.values() for key in _keys(item))]
    return []


@settings(deadline=None)
@given(st.dictionaries(str_keys | hashables, values, max_size=4))
def test_encoded_objects_only_carry_string_keys_and_known_tags(value):
    encoded = serialize_arguments([value], {"k": value})
    for key in _keys(encoded):
        assert isinstance(key, str)
        if key.startswith("_aj_"):
            assert key in ("_aj_serialized", "_aj_kwargs")


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
untrusted = st.recursive(
    json_scalars
    | st.fixed_dictionaries(
        {
            "_aj_serialized": st.sampled_from(
                [
                    "datetime",
                    "date",
                    "time",
                    "timedelta",
                    "decimal",
                    "uuid",
                    "float",
                    "enum",
                    "tuple",
                    "set",
                    "frozenset",
                    "dict",
                    "missing",
                ]
            ),
        },
        optional={
            "value": json_scalars,
            "class": st.text(),
            "name": st.text(),
            "time_zone": st.text(),
            "days": json_scalars,
        },
    )
    | st.fixed_dictionaries({"_aj_globalid": json_scalars}),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(str_keys, inner, max_size=4),
    max_leaves=10,
)


@settings(deadline=None)
@given(st.lists(untrusted, max_size=4) | untrusted)
def test_untrusted_json_never_raises_anything_but_deserialization_error(encoded):
    try:
        args, kwargs = deserialize_arguments(encoded)
    except DeserializationError:
        return
    assert isinstance(args, list)
    assert isinstance(kwargs, dict)
