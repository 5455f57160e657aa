"""Wait strategies for ``retry_on``: fixed waits, polynomial and exponential backoff, callables."""

from __future__ import annotations

import dataclasses
import inspect
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, Union

from .errors import ConfigurationError


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()
"""Marks an option left to its setting: ``jitter`` falls back to ``activejob_retry_jitter``."""


def _require_number(what: str, value: object, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigurationError(f"{what} must be a number >= {minimum}, not {value!r}")


def jitter_term(delay: float, jitter: float) -> float:
    """Rails' random extra delay: ``U * delay * jitter``, 0 when jitter is 0."""
    return random.random() * delay * jitter if jitter else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Fixed:
    """The same wait every time, jittered: ``seconds + U * seconds * jitter``.

    Example:
        >>> Fixed(3).delay(1, None, jitter=0)
        3.0
    """

    seconds: float

    def delay(self, executions: int, error: BaseException | None, jitter: float) -> float:
        """Seconds to wait before retry number ``executions``."""
        return self.seconds + jitter_term(self.seconds, jitter)


@dataclasses.dataclass(frozen=True, slots=True)
class Polynomial:
    """``n**exponent + offset`` seconds, jitter on the ``n**exponent`` part (Rails' formula).

    Example:
        >>> [Polynomial().delay(n, None, jitter=0) for n in (1, 2, 3, 4)]
        [3.0, 18.0, 83.0, 258.0]
    """

    exponent: float = 4
    offset: float = 2

    def __post_init__(self) -> None:
        _require_number("Polynomial exponent", self.exponent, minimum=0)
        _require_number("Polynomial offset", self.offset, minimum=0)

    def delay(self, executions: int, error: BaseException | None, jitter: float) -> float:
        """Seconds to wait before retry number ``executions``."""
        grown = float(executions**self.exponent)
        return grown + jitter_term(grown, jitter) + self.offset


@dataclasses.dataclass(frozen=True, slots=True)
class Exponential:
    """``base * factor**(n - 1)`` seconds, jittered, then capped at ``max_wait``.

    Example:
        >>> [Exponential().delay(n, None, jitter=0) for n in (1, 2, 3, 4)]
        [3.0, 6.0, 12.0, 24.0]
        >>> Exponential(base=1, factor=10, max_wait=60).delay(5, None, jitter=0)
        60.0
    """

    base: float = 3
    factor: float = 2
    max_wait: float | None = None

    def __post_init__(self) -> None:
        _require_number("Exponential base", self.base, minimum=0)
        _require_number("Exponential factor", self.factor, minimum=1)
        if self.max_wait is not None:
            _require_number("Exponential max_wait", self.max_wait, minimum=0)

    def delay(self, executions: int, error: BaseException | None, jitter: float) -> float:
        """Seconds to wait before retry number ``executions``."""
        grown = float(self.base * self.factor ** (executions - 1))
        waited = grown + jitter_term(grown, jitter)
        return waited if self.max_wait is None else min(waited, float(self.max_wait))


@dataclasses.dataclass(frozen=True, slots=True)
class Computed:
    """A user callable ``f(executions)`` or ``f(executions, error)``; never jittered (Rails).

    Example:
        >>> Computed(lambda n: n * 2).delay(3, None, jitter=0.15)
        6.0
    """

    function: Callable[..., Any]
    takes_error: bool

    def delay(self, executions: int, error: BaseException | None, jitter: float) -> float | None:
        """Seconds to wait before retry number ``executions``; None retries at once, unscheduled."""
        value = self.function(executions, error) if self.takes_error else self.function(executions)
        if value is None:
            return None
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"the wait callable returned {value!r}; return seconds or a timedelta")
        return float(value)


POLYNOMIALLY_LONGER: Final = Polynomial(exponent=4, offset=2)
"""Rails' ``:polynomially_longer``: 3, 18, 83, 258 s for failures 1-4 at jitter 0."""

EXPONENTIALLY_LONGER: Final = Polynomial(exponent=4, offset=2)
"""Rails' ``:exponentially_longer``: ``POLYNOMIALLY_LONGER``'s numbers, 3, 18, 83, 258 s (jitter 0).

Rails' symbol always computed ``n**4 + 2``; so does this name. A true exponential is
``Exponential(base=3, factor=2, max_wait=None)``: 3, 6, 12, 24 s.

Example:
    >>> [EXPONENTIALLY_LONGER.delay(n, None, jitter=0) for n in (1, 2, 3, 4)]
    [3.0, 18.0, 83.0, 258.0]
"""

Strategy = Union[Fixed, Polynomial, Exponential, Computed]  # noqa: UP007 - used at runtime
Wait = Union[int, float, timedelta, Polynomial, Exponential, Callable[..., Any]]  # noqa: UP007


def wait_strategy(wait: object, *, declared_in: str) -> Strategy:
    """Turn a ``wait=`` value into a strategy; ConfigurationError names the declaration."""
    if isinstance(wait, Polynomial | Exponential | Fixed):
        return wait
    if isinstance(wait, timedelta):
        wait = wait.total_seconds()
    if isinstance(wait, int | float) and not isinstance(wait, bool):
        if wait < 0:
            raise ConfigurationError(f"{declared_in}: wait={wait!r} must not be negative")
        return Fixed(float(wait))
    if callable(wait):
        return Computed(wait, _takes_error(wait, declared_in))
    raise ConfigurationError(
        f"{declared_in}: wait={wait!r} is not a supported wait. Use seconds (int or float), a "
        "timedelta, POLYNOMIALLY_LONGER, EXPONENTIALLY_LONGER, Exponential(...), Polynomial(...), "
        "or a callable f(executions) / f(executions, error)."
    )


def _takes_error(function: Callable[..., Any], declared_in: str) -> bool:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 2 or not positional:
        raise ConfigurationError(
            f"{declared_in}: a wait callable takes (executions) or (executions, error)"
        )
    return len(positional) >= 2


def validate_jitter(jitter: object, *, declared_in: str) -> float | _Default:
    """Check ``jitter=``: DEFAULT, None/0 (no jitter) or a non-negative number."""
    if jitter is DEFAULT:
        return DEFAULT
    if jitter is None:
        return 0.0
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or jitter < 0:
        raise ConfigurationError(
            f"{declared_in}: jitter={jitter!r} must be a non-negative number, 0 or None"
        )
    return float(jitter)
