"""Fixtures for the unit tests: no broker, a fresh test adapter, frozen clocks, clean registries."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from activejob_celery import (
    adapters,
    config,
    core,
    declaration,
    enqueuing,
    global_id,
    serializers,
)
from activejob_celery.testing import TestAdapter
from tests.unit.helpers import FROZEN_NOW, FrozenClock


@pytest.fixture(autouse=True)
def aj_argument_registries() -> Iterator[None]:
    """Restore the serializer registry and the global-id locators after every unit test."""
    by_name = dict(serializers._by_name)
    by_type = dict(serializers._by_type)
    in_order = list(serializers._in_order)
    locators = dict(global_id._locators)
    yield
    serializers._by_name.clear()
    serializers._by_name.update(by_name)
    serializers._by_type.clear()
    serializers._by_type.update(by_type)
    serializers._in_order[:] = in_order
    global_id._locators.clear()
    global_id._locators.update(locators)


@pytest.fixture
def aj_settings() -> Callable[..., config.Settings]:
    """``aj_settings(field=value, ...)`` makes a copy of the current settings current."""

    def use(**changes: Any) -> config.Settings:
        settings = dataclasses.replace(config.current_settings(), **changes)
        config.use_settings(settings)
        return settings

    return use


@pytest.fixture
def aj_adapter(aj_settings: Callable[..., config.Settings]) -> TestAdapter:
    """A fresh TestAdapter that every job without its own ``queue_adapter`` uses."""
    adapter = TestAdapter()
    adapters._named["test"] = adapter
    aj_settings(queue_adapter="test")
    return adapter


@pytest.fixture
def aj_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Freeze the clock that stamps ``enqueued_at`` and computes ``set(wait=)``."""
    clock = FrozenClock(FROZEN_NOW)

    class RealDateTimes(type):
        # isinstance(real_datetime, FrozenDateTime) must stay true for the patched modules.
        def __instancecheck__(cls, value: object) -> bool:
            return isinstance(value, datetime)

    class FrozenDateTime(datetime, metaclass=RealDateTimes):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now if tz is None else clock.now.astimezone(tz)

    monkeypatch.setattr(core, "datetime", FrozenDateTime)
    monkeypatch.setattr(core, "time", SimpleNamespace(time=lambda: clock.now.timestamp()))
    monkeypatch.setattr(enqueuing, "datetime", FrozenDateTime)
    return clock


@pytest.fixture(autouse=True)
def aj_no_open_collectors() -> Iterator[None]:
    """Fail a test that leaves a class-body collector open; failed bodies are freed first."""
    yield
    if declaration._state.collectors:
        gc.collect()  # a failed class body's namespace may sit in a traceback reference cycle
    open_bodies = [c.qualname() for c in declaration._state.collectors if c.qualname() is not None]
    assert not open_bodies, f"class bodies left their declaration collectors open: {open_bodies}"
