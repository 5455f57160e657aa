"""Plain-text rendering for the operator commands: tables and the ``dead show`` page."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from .record import DeadLetter

SHORT_ID = 8
"""Characters of an id shown in tables; every command accepts such a prefix."""


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Collection[int] = ()
) -> str:
    """Columns padded to their widest cell; columns listed in ``right`` are right-aligned.

    Example:
        >>> print(table(["QUEUE", "DEPTH"], [["default", 3]], right={1}))
        QUEUE    DEPTH
        default      3
    """
    cells = [[str(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    lines = []
    for row in [list(headers), *cells]:
        padded = [
            value.rjust(widths[index]) if index in right else value.ljust(widths[index])
            for index, value in enumerate(row)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def one_line(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def letters_table(letters: Sequence[DeadLetter]) -> str:
    """The ``dead list`` table, newest first as given."""
    rows = [
        [
            letter.id[:SHORT_ID],
            letter.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.reason,
            letter.job_class or "-",
            letter.queue_name or "-",
            letter.attempts,
            one_line(_error(letter), 60),
        ]
        for letter in letters
    ]
    headers = ["ID", "FAILED AT (UTC)", "REASON", "CLASS", "QUEUE", "ATTEMPTS", "ERROR"]
    return table(headers, rows, right={5})


def describe(letter: DeadLetter) -> str:
    """The ``dead show`` page: every field, the payload as indented JSON, the traceback."""
    fields = [
        ("Job class", letter.job_class or "-"),
        ("Job id", letter.job_id or "-"),
        ("Queue", letter.queue_name or "-"),
        ("Reason", letter.reason),
        ("Attempts", str(letter.attempts)),
        ("Failed at", letter.failed_at.isoformat()),
        ("Error", _error(letter)),
        ("Retryable", "yes" if letter.retryable else "no"),
    ]
    width = max(len(name) for name, _ in fields) + 1
    lines = [f"Dead letter {letter.id}"]
    lines += [f"  {(name + ':').ljust(width)} {value}" for name, value in fields]
    lines += ["", "Payload:", _indent(json.dumps(letter.payload, indent=2, ensure_ascii=False))]
    lines += ["", "Traceback:", _indent((letter.traceback or "(none)").rstrip())]
    return "\n".join(lines)


def _error(letter: DeadLetter) -> str:
    name = letter.error_class.rsplit(".", 1)[-1] if letter.error_class else ""
    if name and letter.error_message:
        return f"{name}: {letter.error_message}"
    return name or letter.error_message


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
