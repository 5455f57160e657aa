"""tests/support/requirements.py: a missing tool skips the test, and fails it under CI=true."""

from __future__ import annotations

import pytest

from tests.support.requirements import in_ci, need, redis_supports_tls, skip_or_fail


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_outside_ci_a_missing_requirement_skips(monkeypatch, value) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="no widget on PATH"):
        skip_or_fail("no widget on PATH")
    with pytest.raises(pytest.skip.Exception, match="probe said no"):
        need(lambda: False, "probe said no")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_under_ci_a_missing_requirement_fails(monkeypatch, value) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true and a requirement is missing: gone"):
        need(False, "gone")


def test_a_met_requirement_does_nothing(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    calls: list[int] = []
    need(True, "unused")
    need(lambda: calls.append(1) or True, "unused")
    assert calls == [1]


def test_the_tls_probe_tells_a_build_without_tls(monkeypatch, tmp_path) -> None:
    fake = tmp_path / "redis-server"  # answers as Redis 6.2 built without TLS does
    fake.write_text('#!/bin/sh\necho ">>> \'tls-port \\"0\\"\'" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("REDIS_SERVER_BIN", str(fake))
    redis_supports_tls.cache_clear()
    try:
        assert redis_supports_tls() is False
    finally:
        redis_supports_tls.cache_clear()
