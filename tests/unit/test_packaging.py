"""pyproject.toml declares what the runtime imports, bounds Celery and kombu, and CI pins agree."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _dependencies() -> dict[str, Requirement]:
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    lines = re.findall(r'^\s*"([^"]+)"', block, re.MULTILINE)
    return {Requirement(line).name: Requirement(line) for line in lines}


def _oldest_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "constraints-oldest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = Version(version.strip())
    return pins


def test_kombu_is_declared_with_its_redis_extra() -> None:
    # kombu's Redis transport imports `packaging`; only the extra declares it.
    assert "redis" in _dependencies()["kombu"].extras


def test_celery_and_kombu_are_bounded_above_and_the_oldest_pins_are_the_lower_bounds() -> None:
    dependencies, pins = _dependencies(), _oldest_pins()
    assert set(pins) == {"celery", "kombu", "redis"}
    for name, oldest in pins.items():
        specifier = dependencies[name].specifier
        lower = [spec for spec in specifier if spec.operator == ">="]
        upper = [spec for spec in specifier if spec.operator == "<"]
        assert [Version(spec.version) for spec in lower] == [oldest], name
        assert upper, f"{name} has no upper bound"
        assert oldest in specifier
