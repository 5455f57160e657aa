"""One seam for in-line extensions: failure recorders, error reporters, registry listeners."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from activejob_celery import failures, registry, reporting
from activejob_celery.hooks import Hooks


def test_a_hook_is_added_once_and_called_in_order() -> None:
    heard: list[tuple[str, Any]] = []
    hooks = Hooks("Listener")

    def first(value: Any) -> None:
        heard.append(("first", value))

    def second(value: Any) -> None:
        heard.append(("second", value))

    assert hooks.add(first) is first
    hooks.add(second)
    hooks.add(first)
    hooks.call(1)
    assert heard == [("first", 1), ("second", 1)]
    hooks.discard(first)
    hooks.discard(first)
    assert list(hooks) == [second]


def test_call_lets_an_error_through_and_call_logged_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("boom")

    hooks = Hooks("Error reporter", logging.getLogger("activejob_celery.reporting"))
    hooks.add(broken)
    with pytest.raises(RuntimeError):
        hooks.call(job=None)
    with caplog.at_level(logging.ERROR, logger="activejob_celery.reporting"):
        hooks.call_logged(job=None)
    assert "Error reporter" in caplog.text and "failed" in caplog.text


def test_recorders_reporters_and_listeners_are_the_same_seam() -> None:
    assert isinstance(failures._recorders, Hooks)
    assert isinstance(reporting._reporters, Hooks)
    assert isinstance(registry._listeners, Hooks)
    assert {failures._recorders.label, reporting._reporters.label, registry._listeners.label} == {
        "Failure recorder",
        "Error reporter",
        "Registry listener",
    }
