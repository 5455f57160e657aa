"""Redis commands packed by hand, and a batch's MULTI/EXEC: ``perform_all_later``'s round trip.

A bulk enqueue sends, in one transaction, an ``LPUSH`` of up to 1 000 messages per list and
one ``EVAL`` for the batch's statuses (:mod:`activejob_celery.status.batch`). Through a
redis-py pipeline each message goes through its generic encoder and the packed command leaves
in 6 kB pieces, one ``sendall`` each (about 350 a batch). Here the commands are packed once
from bytes the caller already has (a message is bytes; the rest is encoded by the client's own
encoder) and leave in one ``sendall`` on a connection of the client's pool, under the
connection's retry policy, and the replies are read as redis-py reads a transaction's: the
first error is raised.

Example:
    >>> run(client, [pack([b"LPUSH", b"default", message])])   # doctest: +SKIP
    [1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import ExecAbortError, ResponseError, WatchError

from .resp import bulk, pack

if TYPE_CHECKING:
    from .base import ApplicationJob
    from .status import StatusStore

__all__ = ["bulk", "pack", "plain_pool", "push_batch", "run", "run_on", "usable"]


def usable(client: Any) -> bool:
    """Whether ``client`` sends commands one per pooled connection, as redis-py's own path does.

    Example:
        >>> usable(redis.Redis())
        True
    """
    return (
        isinstance(client, redis.Redis)
        and client.connection is None
        # A plain pool to one address: a Sentinel pool finds its master per connection, and
        # after a failover only redis-py's own path asks the sentinels again.
        and plain_pool(client.connection_pool)
    )


def plain_pool(pool: Any) -> bool:
    """Whether ``pool`` connects to one fixed address, with no client-side cache.

    Example:
        >>> plain_pool(redis.ConnectionPool())
        True
    """
    return type(pool) in PLAIN_POOLS and getattr(pool, "cache", None) is None


PLAIN_POOLS = (redis.ConnectionPool, redis.BlockingConnectionPool)
"""Pools to one fixed address (a Sentinel pool finds its server per connection)."""


def push_batch(
    client: Any,
    pushes: dict[bytes, list[bytes]],
    store: StatusStore | None,
    tracked: list[ApplicationJob],
) -> None:
    """LPUSH each list's messages and write ``tracked``'s ``queued`` statuses, in one MULTI/EXEC.

    Each list gets one ``LPUSH`` with many values, which Redis applies one after the other;
    ``store`` None: no statuses. A client :func:`usable` does not accept gets a
    redis-py pipeline with the same commands.

    Example:
        >>> push_batch(client, {b"default": messages}, store, jobs)  # doctest: +SKIP
    """
    if not usable(client):
        with client.pipeline(transaction=True) as pipe:
            for list_key, messages in pushes.items():
                pipe.lpush(list_key, *messages)
            if store is not None:
                store.enqueued_batch(pipe, tracked)
            pipe.execute()
        return
    commands = [pack([b"LPUSH", list_key, *messages]) for list_key, messages in pushes.items()]
    if store is not None and tracked:
        commands.append(store.packed_batch(tracked))
    if commands:
        run(client, commands)


def run(client: Any, commands: list[bytes]) -> list[Any]:
    """Send ``commands`` in MULTI/EXEC in one write; EXEC's replies (the first error raised).

    ``client`` must be :func:`usable`. Connection errors are retried as redis-py retries a
    transaction (the connection's ``retry``, disconnecting before each new try).

    Example:
        >>> run(client, [pack([b"LPUSH", b"q", b"m"])])          # doctest: +SKIP
        [1]
    """
    return run_on(client.connection_pool, commands)


def run_on(pool: Any, commands: list[bytes]) -> list[Any]:
    """:func:`run` on a connection of ``pool`` (a pool of :data:`PLAIN_POOLS`).

    Example:
        >>> run_on(client.connection_pool, [pack([b"HDEL", b"h", b"f"])])  # doctest: +SKIP
        [1]
    """
    packed = b"*1\r\n$5\r\nMULTI\r\n%s*1\r\n$4\r\nEXEC\r\n" % b"".join(commands)
    connection: Any = pool.get_connection()
    try:

        def send() -> list[Any]:
            connection.send_packed_command([packed])
            return _replies(connection, len(commands))

        replies: list[Any] = connection.retry.call_with_retry(
            send, lambda error: connection.disconnect()
        )
    finally:
        pool.release(connection)
    return replies


def _replies(connection: Any, count: int) -> list[Any]:
    """Read MULTI's, each command's and EXEC's replies, as redis-py's transaction does."""
    errors: list[ResponseError] = []
    for index in range(count + 1):  # MULTI, then each queued command
        try:
            connection.read_response()
        except ResponseError as error:
            if index:
                error.args = (f"Command # {index} of the batch caused error: {error.args[0]}",)
            errors.append(error)
    try:
        replies = connection.read_response()
    except ExecAbortError:
        if errors:
            raise errors[0] from None
        raise
    if replies is None:
        raise WatchError("Watched variable changed.")
    if errors:
        raise errors[0]
    if len(replies) != count:
        connection.disconnect()
        raise ResponseError("Wrong number of response items from pipeline execution")
    for index, reply in enumerate(replies, 1):
        if isinstance(reply, ResponseError):
            reply.args = (f"Command # {index} of the batch caused error: {reply.args[0]}",)
            raise reply
    return list(replies)
