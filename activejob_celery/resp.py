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


def bulk(value: bytes) -> bytes:
    r"""A RESP bulk string (``$<length>\r\n<value>\r\n``), as redis-py packs one argument.

    Example:
        >>> bulk(b"queued")
        b'$6\r\nqueued\r\n'
    """
    return b"$%d\r\n%s\r\n" % (len(value), value)


def pack(args: Iterable[bytes]) -> bytes:
    r"""One command in RESP from arguments that are bytes already (no per-argument checks).

    Example:
        >>> pack([b"LPUSH", b"q", b"m"])
        b'*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$1\r\nm\r\n'
    """
    parts = [b""]  # the count goes first, once they are counted
    for arg in args:  # one join of short pieces: a third of redis-py's packing time
        parts += (b"$%d" % len(arg), arg)
    parts[0] = b"*%d" % (len(parts) // 2)
    parts.append(b"")
    return b"\r\n".join(parts)


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
    return b"".join(pack(_encoded(command, encoding, errors)) for command in commands)


def _encoded(command: tuple[Any, ...], encoding: str, errors: str) -> list[bytes]:
    name = command[0]
    words = (name.encode() if isinstance(name, str) else bytes(name)).split()
    for argument in command[1:]:
        kind = type(argument)
        if kind is str:
            words.append(argument.encode(encoding, errors))
        elif kind is bytes:
            words.append(argument)
        elif kind is int or kind is float:
            words.append(repr(argument).encode())
        else:
            words.append(_encode_other(argument, encoding, errors))
    return words


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
        return str.encode(argument, encoding, errors)  # its own text, not its __str__
    raise DataError(
        f"Invalid input of type: '{type(argument).__name__}'. "
        "Convert to a bytes, string, int or float first."
    )
