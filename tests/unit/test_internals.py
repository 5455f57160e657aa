"""The one door to private attributes: its shape checks pass here and warn when a part breaks."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from activejob_celery import internals

PACKAGE = Path(internals.__file__).parent
# The door: internals.py and the sections it re-exports from internals_channels.py.
DOOR = {"internals.py", "internals_channels.py"}


@pytest.fixture
def fresh_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(internals, "_broken", None)


def test_the_installed_versions_have_every_attribute_used(fresh_check: None) -> None:
    assert internals.check_shapes() == set()
    parts = (internals.RELIABLE_FETCH, internals.DIRECT_PUBLISH, internals.TRANSPORT_GUARD)
    for part in (*parts, internals.UNACKED_SKIP):
        assert internals.usable(part)


def test_a_moved_attribute_turns_its_part_off_with_one_warning(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Channel:
        def __init__(self) -> None:
            self._q_for_pri = None

    monkeypatch.setattr(
        internals, "_SHAPES", ((internals.RELIABLE_FETCH, Channel, ("_q_for_pri", "_gone")),)
    )
    with caplog.at_level(logging.WARNING, logger="activejob_celery.internals"):
        assert internals.check_shapes() == {internals.RELIABLE_FETCH}
        assert not internals.usable(internals.RELIABLE_FETCH)
        assert internals.usable(internals.DIRECT_PUBLISH)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "reliable fetch is off" in warnings[0].getMessage()
    assert "_gone" in warnings[0].getMessage()
    assert "_q_for_pri" not in warnings[0].getMessage()


def test_no_other_module_touches_kombu_channel_privates() -> None:
    # The door's own names: any module but internals.py that spells one of them reaches past it.
    private = (
        "._brpop_start",
        "._queue_cycle",
        "._q_for_pri",
        "._lookup(",
        "._in_poll",
        "._remove_from_indices",
        "._get_message_priority",
        "._delivered",
        "_consume_from",
        "._put(",
        "._brpop_sent_at",
        "_brpop_read",
        "_inplace_augment_message",
        "._get_current_object",
    )
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in DOOR:
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {name}" for name in private if name in text]
    assert offenders == []


def test_no_other_module_imports_a_private_module_of_celery_kombu_or_redbeat() -> None:
    # celery._state and the like move between versions: only internals.py may import them.
    private_module = re.compile(r"(?<![\w.])(celery|kombu|redbeat)\._[a-z]")
    offenders = [
        f"{path.name}: {found.group(0)}"
        for path in PACKAGE.rglob("*.py")
        if path.name not in DOOR
        for found in private_module.finditer(path.read_text())
    ]
    assert offenders == []
