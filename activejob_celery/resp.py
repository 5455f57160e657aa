r"""Redis commands packed into RESP bytes with less work per argument than redis-py's packer.

A worker writes a few scripted commands for every run of a job (its status, listing and run
mark; see :mod:`activejob_celery.run_writes`). redis-py's generic packer checks and encodes each
argument through several layers (about 3 µs an argument on a small machine); the commands of a
run have a dozen arguments each. :func:`pack_commands` writes the same bytes in one pass: the
result is byte for byte what ``Connection.pack_commands`` sends (tests/unit/test_resp.py).

Example:
    >>> pack_commands([("SET", "key", 1)])
    b'*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$1\r\n1\r\n'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.exceptions import DataError


def pack_commands(
    commands: Iterable[tuple[Any, ...]], encoding: str = "utf-8", errors: str = "strict"
) -> bytes:
    r"""The RESP bytes of ``commands``, arguments encoded as redis-py encodes them.

    Arguments may be ``str`` (encoded with ``encoding``), ``bytes``, ``int`` or ``float``
    (their ``repr``); a ``bool`` or any other type raises redis-py's ``DataError``, as redis-py
    does. A command name holding spaces (``"CLIENT KILL"``) is split into its words, as
    redis-py splits it.

    Example:
        >>> pack_commands([("HDEL", "h", b"f")])
        b'*3\r\n$4\r\nHDEL\r\n$1\r\nh\r\n$1\r\nf\r\n'
    """
    parts: list[bytes] = []
    append = parts.append
    for command in commands:
        name = command[0]
        words = (name.encode() if isinstance(name, str) else bytes(name)).split()
        append(b"*%d\r\n" % (len(words) + len(command) - 1))
        for word in words:
            append(b"$%d\r\n%s\r\n" % (len(word), word))
        for argument in command[1:]:
            kind = type(argument)
            if kind is str:
                value = argument.encode(encoding, errors)
            elif kind is bytes:
                value = argument
            elif kind is int or kind is float:
                value = repr(argument).encode()
            else:
                value = _encode_other(argument, encoding, errors)
            append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


def _encode_other(argument: Any, encoding: str, errors: str) -> bytes:
    """Subclasses and byte views, as redis-py's ``Encoder.encode`` takes them (or refuses)."""
    if isinstance(argument, bytearray | memoryview):
        return bytes(argument)
    if isinstance(argument, bool):
        raise DataError(
            "Invalid input of type: 'bool'. Convert to a bytes, string, int or float first."
        )
    if isinstance(argument, bytes):
        return bytes(argument)
    if isinstance(argument, int | float):
        return repr(argument).encode()
    if isinstance(argument, str):
        return str(argument).encode(encoding, errors)
    raise DataError(
        f"Invalid input of type: '{type(argument).__name__}'. "
        "Convert to a bytes, string, int or float first."
    )
