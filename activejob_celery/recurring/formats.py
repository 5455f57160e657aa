"""Recurring entries as Solid Queue, GoodJob, sidekiq-cron and sidekiq-scheduler write them.

Every flavour is turned into one shape (``class``, ``schedule``, ``args``, ``kwargs``,
``queue``, ``priority``, ``description``) before the entry is checked, so the rest of the
package sees a Solid Queue entry whatever the file looked like.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError

FIELDS = ("class", "args", "kwargs", "queue", "priority", "schedule", "description")
SCHEDULE_KEYS = ("schedule", "cron", "every")
# Purely descriptive keys of the other flavours, and the ones that switch an entry off.
_ACCEPTED = ("set", "status", "enabled", "enabled_by_default", "active_job")
ENTRY_KEYS = frozenset((*FIELDS, *SCHEDULE_KEYS, *_ACCEPTED))
HINTS = {
    "command": "entries are not supported (nothing from YAML is ever evaluated); "
    "put the code in a job class and name it with class:",
    "at": "(a one-time run) is not a recurring schedule; enqueue it with "
    "Job.set(wait_until=...).perform_later()",
    "in": "(a one-time run) is not a recurring schedule; enqueue it with "
    "Job.set(wait=...).perform_later()",
    "interval": "is not supported; write every: (an interval from the last run)",
}
_SET_KEYS = ("queue", "priority")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(w|d|h|m|s)")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def normalize_entry(name: str, key: str, entry: Mapping[Any, Any]) -> tuple[dict[str, Any], bool]:
    """One entry in Solid Queue's shape, and False when the entry is switched off.

    ``name`` is how errors name the entry (``"recurring job 'nightly'"``); ``key`` is the
    entry key, sidekiq-scheduler's default for a missing ``class:``.

    Raises:
        ConfigurationError: an unknown key (naming it), two schedules, or a bad value.

    Example:
        >>> normalize_entry("job", "sync", {"every": "1h", "class": "SyncJob", "queue": "low"})
        ({'class': 'SyncJob', 'queue': 'low', 'schedule': 'every 3600 seconds'}, True)
    """
    fields = {_symbol(field): value for field, value in entry.items()}
    for extra in sorted(map(str, fields.keys() - ENTRY_KEYS)):
        if extra in HINTS:
            raise ConfigurationError(f"{name}: {extra}: {HINTS[extra]}")
        close = difflib.get_close_matches(extra, sorted(ENTRY_KEYS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(FIELDS)}"
        raise ConfigurationError(f"{name}: unknown key {extra!r}; {hint}")
    enabled = _enabled(name, fields)
    given = [field for field in SCHEDULE_KEYS if fields.get(field) is not None]
    if len(given) > 1:
        raise ConfigurationError(f"{name}: give one of {', '.join(given)}, not several")
    normal = {field: fields[field] for field in FIELDS if field in fields}
    _merge_set(name, fields.get("set"), normal)
    if "cron" in given:
        normal["schedule"] = _text(name, "cron", fields["cron"])
    elif "every" in given:
        normal["schedule"], first_in = every_schedule(name, fields["every"])
        if first_in is not None:
            normal["first_in"] = first_in
    if given and given[0] != "schedule" and normal.get("class") is None:
        normal["class"] = key  # sidekiq-scheduler: the entry key names the class
    return normal, enabled


def every_schedule(name: str, value: object) -> tuple[str, float | None]:
    """sidekiq-scheduler's ``every:`` as a schedule text, and its ``first_in`` in seconds.

    ``every`` is an interval counted from the last run (rufus-scheduler's meaning), not a
    clock-aligned cron line, so it becomes ``"every N seconds"``. ``["1h", {first_in: "5m"}]``
    runs first 5 minutes after the entry is added (else one interval after).

    Example:
        >>> every_schedule("job", "1h30m")
        ('every 5400 seconds', None)
        >>> every_schedule("job", ["1h", {"first_in": "5m"}])
        ('every 3600 seconds', 300.0)
    """
    first_in = None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], Mapping):
        options = {_symbol(option): given for option, given in value[1].items()}
        others = ", ".join(sorted(options.keys() - {"first_in"}))
        if others:
            raise ConfigurationError(
                f"{name}: every: options ({others}) are not supported; use first_in: alone"
            )
        first_in = _seconds(name, "every: first_in", options["first_in"], least=0)
        value = value[0]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    seconds = _seconds(name, "every", value, least=1)
    return f"every {int(seconds)} second{'' if seconds == 1 else 's'}", first_in


def _seconds(name: str, field: str, value: object, *, least: int) -> float:
    seconds = duration_seconds(value)
    if seconds is None or seconds < least or not seconds.is_integer():
        raise ConfigurationError(
            f"{name}: {field}: {value!r} is not an interval of whole seconds; write a duration "
            'such as "30s", "15m", "1h", "1d", "1w" or "1h30m"'
        )
    return seconds


def duration_seconds(value: object) -> float | None:
    """A rufus-scheduler duration in seconds ("1h" is 3600.0); None when it is not one.

    Example:
        >>> duration_seconds("2d"), duration_seconds("45"), duration_seconds("1 month")
        (172800.0, 45.0, None)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or _DURATION.sub("", text):
        return None
    return sum(float(count) * _SECONDS[unit] for count, unit in _DURATION.findall(text))


def unwrap_document(document: Any) -> Any:
    """The entries of a sidekiq-cron list or a sidekiq.yml ``:scheduler: :schedule:`` block.

    Example:
        >>> unwrap_document([{"name": "sync", "cron": "0 * * * *", "class": "SyncJob"}])
        {'sync': {'cron': '0 * * * *', 'class': 'SyncJob'}}
    """
    if isinstance(document, list):
        if not all(isinstance(item, Mapping) and "name" in item for item in document):
            return document
        return {
            str(item["name"]): {k: v for k, v in item.items() if k != "name"} for item in document
        }
    if not isinstance(document, Mapping):
        return document
    top = {_symbol(key): value for key, value in document.items()}
    scheduler = top.get("scheduler")
    if isinstance(scheduler, Mapping):
        inner = {_symbol(key): value for key, value in scheduler.items()}
        if isinstance(inner.get("schedule"), Mapping):
            return inner["schedule"]
    if isinstance(top.get("schedule"), Mapping) and ":schedule" in document:
        return top["schedule"]  # sidekiq-scheduler 2's top-level :schedule: in sidekiq.yml
    return document


def _symbol(key: object) -> str:
    """A YAML key as Ruby writes a symbol (``:class``) is the plain key (``class``)."""
    text = str(key)
    return text[1:] if text.startswith(":") else text


def _enabled(name: str, fields: Mapping[str, Any]) -> bool:
    status = fields.get("status")
    if status is not None and status not in ("enabled", "disabled"):
        raise ConfigurationError(f"{name}: status: must be enabled or disabled")
    for flag in ("enabled", "enabled_by_default", "active_job"):
        if fields.get(flag) is not None and not isinstance(fields[flag], bool):
            raise ConfigurationError(f"{name}: {flag}: must be true or false")
    return status != "disabled" and all(
        fields.get(flag) is not False for flag in ("enabled", "enabled_by_default")
    )


def _merge_set(name: str, options: object, normal: dict[str, Any]) -> None:
    """GoodJob's ``set:`` options (``queue``, ``priority``), as ``Job.set(...)`` takes them."""
    if options is None:
        return
    if not isinstance(options, Mapping):
        raise ConfigurationError(f"{name}: set: must be a mapping of queue and priority")
    for option, value in options.items():
        option = _symbol(option)
        if option not in _SET_KEYS:
            raise ConfigurationError(
                f"{name}: set: option {option!r} is not supported in a recurring entry; "
                f"use {', '.join(_SET_KEYS)}"
            )
        if normal.get(option) is not None:
            raise ConfigurationError(f"{name}: {option} is given twice (in set: and on its own)")
        normal[option] = value


def _text(name: str, field: str, value: object) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise ConfigurationError(f"{name}: {field}: must be a cron line or a phrase, a text")
    return value
