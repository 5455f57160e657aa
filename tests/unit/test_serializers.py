"""Custom ObjectSerializer subclasses: registration, names, lookup order, errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from activejob_celery import (
    ApplicationJob,
    DeserializationError,
    ObjectSerializer,
    SerializationError,
    add_serializers,
    serialize_arguments,
)
from activejob_celery.arguments import deserialize_arguments
from activejob_celery.execution import execute
from activejob_celery.serializers import (
    registered_serializers,
    serializer_for,
    serializer_named,
)
from tests.unit.helpers import payload_of


@dataclass(frozen=True)
class Money:
    cents: int
    currency: str


@dataclass(frozen=True)
class Refund(Money):
    reason: str = ""


class MoneySerializer(ObjectSerializer):
    klass = Money
    name = "money"

    def serialize(self, value: Money) -> dict[str, Any]:
        return {"cents": value.cents, "currency": value.currency}

    def deserialize(self, data: dict[str, Any]) -> Money:
        return Money(data["cents"], data["currency"])


def round_trip(value: Any) -> Any:
    encoded = serialize_arguments([value], {})
    return deserialize_arguments(json.loads(json.dumps(encoded)))[0][0]


def test_a_registered_serializer_encodes_and_decodes_its_type():
    add_serializers(MoneySerializer)
    assert serialize_arguments([Money(500, "EUR")], {}) == [
        {"_aj_serialized": "money", "cents": 500, "currency": "EUR"}
    ]
    assert round_trip(Money(500, "EUR")) == Money(500, "EUR")
    assert round_trip([{"price": Money(1, "USD")}]) == [{"price": Money(1, "USD")}]


def test_unregistered_type_fails_until_registered():
    with pytest.raises(SerializationError, match=r"tests\.unit\.test_serializers\.Money"):
        serialize_arguments([Money(1, "EUR")], {})
    add_serializers(MoneySerializer)
    assert serialize_arguments([Money(1, "EUR")], {})[0]["_aj_serialized"] == "money"


def test_default_name_is_module_and_qualname_of_the_serializer():
    class UnnamedSerializer(ObjectSerializer):
        klass = Money

        def serialize(self, value):
            return {"c": value.cents}

        def deserialize(self, data):
            return Money(data["c"], "EUR")

    assert UnnamedSerializer.name == f"{__name__}.{UnnamedSerializer.__qualname__}"
    add_serializers(UnnamedSerializer)
    assert serializer_named(UnnamedSerializer.name).__class__ is UnnamedSerializer
    assert round_trip(Money(3, "EUR")) == Money(3, "EUR")


def test_field_values_may_be_any_encodable_value_and_arrive_decoded():
    @dataclass
    class Window:
        start: datetime
        tags: tuple[str, ...]

    class WindowSerializer(ObjectSerializer):
        klass = Window
        name = "window"

        def serialize(self, value):
            return {"start": value.start, "tags": value.tags}

        def deserialize(self, data):
            assert isinstance(data["start"], datetime)
            assert isinstance(data["tags"], tuple)
            return Window(data["start"], data["tags"])

    add_serializers(WindowSerializer)
    window = Window(datetime(2026, 1, 1, tzinfo=timezone.utc), ("a", "b"))
    encoded = serialize_arguments([window], {})[0]
    assert encoded["start"]["_aj_serialized"] == "datetime"
    assert encoded["tags"] == {"_aj_serialized": "tuple", "value": ["a", "b"]}
    assert round_trip(window) == window


def test_exact_type_index_wins_over_earlier_accepts():
    class AnythingSerializer(ObjectSerializer):
        klass = object
        name = "anything"

        def accepts(self, value):
            return isinstance(value, Money)

        def serialize(self, value):
            return {}

        def deserialize(self, data):
            return "anything"

    add_serializers(AnythingSerializer, MoneySerializer)
    # Money has an exact-type entry (MoneySerializer) although AnythingSerializer came first.
    assert serializer_for(Money(1, "EUR")).name == "money"
    # A subclass has no exact entry: the first serializer in order whose accepts() is true.
    assert serializer_for(Refund(1, "EUR")).name == "anything"


def test_subclasses_fall_back_to_isinstance_in_registration_order():
    class RefundSerializer(ObjectSerializer):
        klass = Refund
        name = "refund"

        def serialize(self, value):
            return {"cents": value.cents, "currency": value.currency, "reason": value.reason}

        def deserialize(self, data):
            return Refund(data["cents"], data["currency"], data["reason"])

    add_serializers(MoneySerializer)
    # Refund is a Money: without its own serializer it is encoded (lossily) as Money.
    assert serializer_for(Refund(1, "EUR", "late")).name == "money"
    add_serializers(RefundSerializer)
    assert round_trip(Refund(1, "EUR", "late")) == Refund(1, "EUR", "late")
    assert round_trip(Money(2, "EUR")) == Money(2, "EUR")


def test_custom_accepts_is_consulted():
    class PositiveMoneySerializer(MoneySerializer):
        name = "positive_money"

        def accepts(self, value):
            return isinstance(value, Money) and value.cents > 0

    add_serializers(PositiveMoneySerializer)
    assert serializer_for(Money(5, "EUR")).name == "positive_money"
    assert serializer_for(Money(-5, "EUR")) is None
    with pytest.raises(SerializationError):
        serialize_arguments([Money(-5, "EUR")], {})


def test_built_in_types_keep_their_serializers_when_users_register_more():
    add_serializers(MoneySerializer)
    names = [serializer.name for serializer in registered_serializers()]
    # Built-ins first, in this order (integrations imported since may have added more).
    assert names[:11] == [
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
    ]
    assert names[-1] == "money"


def test_registering_the_same_name_again_replaces_it():
    class MoneyAsString(ObjectSerializer):
        klass = Money
        name = "money"

        def serialize(self, value):
            return {"text": f"{value.cents} {value.currency}"}

        def deserialize(self, data):
            cents, currency = data["text"].split()
            return Money(int(cents), currency)

    add_serializers(MoneySerializer)
    add_serializers(MoneyAsString)
    add_serializers(MoneyAsString)
    assert [s.name for s in registered_serializers()].count("money") == 1
    assert serialize_arguments([Money(7, "EUR")], {}) == [
        {"_aj_serialized": "money", "text": "7 EUR"}
    ]
    assert round_trip(Money(7, "EUR")) == Money(7, "EUR")


def test_only_object_serializer_subclasses_can_be_registered():
    with pytest.raises(TypeError, match="not an ObjectSerializer subclass"):
        add_serializers(dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an ObjectSerializer subclass"):
        add_serializers(MoneySerializer())  # type: ignore[arg-type]


def test_serializer_fields_may_not_use_the_tag_key_or_non_string_keys():
    class BadKeySerializer(MoneySerializer):
        name = "bad_keys"

        def serialize(self, value):
            return {"_aj_serialized": "x"}

    class IntKeySerializer(MoneySerializer):
        name = "bad_keys"  # replaces BadKeySerializer

        def serialize(self, value):
            return {1: "x"}

    add_serializers(BadKeySerializer)
    with pytest.raises(SerializationError, match="returned the key '_aj_serialized'"):
        serialize_arguments([Money(1, "EUR")], {})
    add_serializers(IntKeySerializer)
    with pytest.raises(SerializationError, match="returned the key 1"):
        serialize_arguments([Money(1, "EUR")], {})


def test_unknown_serializer_name_at_perform_time_is_a_deserialization_error(aj_adapter):
    add_serializers(MoneySerializer)

    class ChargeJob(ApplicationJob):
        def perform(self, amount):
            return amount

    ChargeJob.perform_later(Money(1, "EUR"))
    payload = payload_of(aj_adapter.enqueued_jobs[0])
    payload["arguments"][0]["_aj_serialized"] = "renamed_money"
    with pytest.raises(DeserializationError, match="'renamed_money' is not registered"):
        execute(payload)


def test_a_serializer_that_fails_to_decode_is_wrapped():
    class FragileSerializer(MoneySerializer):
        name = "fragile"

        def deserialize(self, data):
            raise RuntimeError("cannot rebuild")

    add_serializers(FragileSerializer)
    encoded = serialize_arguments([Money(1, "EUR")], {})
    with pytest.raises(DeserializationError, match="cannot rebuild") as excinfo:
        deserialize_arguments(encoded)
    assert isinstance(excinfo.value.__cause__, RuntimeError)


def test_repr_names_the_tag_and_type():
    assert repr(MoneySerializer()) == "<MoneySerializer 'money' for Money>"
