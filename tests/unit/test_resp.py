"""Our RESP packer writes exactly the bytes redis-py's connection packs, and refuses the same."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import redis
from redis.exceptions import DataError

from activejob_celery.resp import pack_commands


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


class Step(str, enum.Enum):  # its __str__ is "Step.PROCESS"; redis-py sends "process"
    PROCESS = "process"


def redis_py(commands: list[tuple[Any, ...]], **kwargs: Any) -> bytes:
    connection = redis.Connection(**kwargs)  # packing needs no server
    return b"".join(connection.pack_commands(commands))


COMMANDS: list[list[tuple[Any, ...]]] = [
    [("SET", "key", "value")],
    [("EVAL", "return 1", 2, "k1", "k2", 1.5, 1765100000.123, -7, 0, "")],
    [("HSET", "h", "f", "é ünïcödé ✓"), ("EXPIRE", "h", 300)],
    [("SET", b"raw\r\nbytes", memoryview(b"mv"))],  # (bytearray: refused by redis-py 6.4)
    [("CLIENT KILL", "ID", 5)],
    [(b"CONFIG GET", "maxmemory")],
    [("SET", "k", "x" * 20_000)],  # past redis-py's buffer cutoff: it chunks, same bytes
    [("SET", Name("sub"), Level.HIGH), ("INCRBYFLOAT", "k", float("1e300"))],
    [("HSET", "h", "step", Step.PROCESS)],
]


@pytest.mark.parametrize("commands", COMMANDS)
def test_the_bytes_are_redis_pys(commands: list[tuple[Any, ...]]) -> None:
    assert pack_commands(commands) == redis_py(commands)


def test_the_connections_encoding_is_used() -> None:
    commands = [("SET", "clé", "café")]
    packed = pack_commands(commands, "latin-1", "strict")
    assert packed == redis_py(commands, encoding="latin-1")
    assert b"caf\xe9" in packed


@pytest.mark.parametrize("bad", [True, None, object(), ["list"]])
def test_what_redis_py_refuses_is_refused(bad: Any) -> None:
    with pytest.raises(DataError) as ours:
        pack_commands([("SET", "k", bad)])
    with pytest.raises(DataError) as theirs:
        redis_py([("SET", "k", bad)])
    assert str(ours.value) == str(theirs.value)
