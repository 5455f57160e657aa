"""Commands whose replies are read later: send now, wait for nothing, check on the next send.

A worker marks the start of every run in Redis (:mod:`activejob_celery.interruptions`); waiting
for each mark's reply would add a network round trip to every job. A :class:`DeferredReplies`
holds one connection per thread and process, writes each command to it and returns at once;
the replies are read (and an error raised) in batches by a later
:meth:`~DeferredReplies.send`, or by :meth:`~DeferredReplies.drain`. Redis runs a connection's
commands in the order they were written, and bytes already written reach it even if the process
is killed right after.

Example:
    >>> replies = DeferredReplies(redis.Redis())                      # doctest: +SKIP
    >>> replies.send("SET", "key", "value")                           # doctest: +SKIP
    >>> replies.drain()                                               # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from redis.exceptions import ResponseError

from .resp import pack_commands

READ_EVERY = 64
"""Replies left waiting in the socket before a send reads them (one read for many)."""


class DeferredReplies:
    """One held connection per thread and process to ``client``'s server (see module docs).

    Example:
        >>> replies = DeferredReplies(client)                         # doctest: +SKIP
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._local = threading.local()

    def send(self, *command: Any) -> None:
        """Write ``command``; every :data:`READ_EVERY` sends, read the replies due first.

        Raises the error of an earlier command, or of this write; the connection is dropped
        then, and a new one is made on the next call.
        """
        connection = self._connection()
        try:
            if self._local.due >= READ_EVERY:
                self._read_due(connection)
            # No health-check PING: it would read one of the replies still due in its place.
            connection.send_command(*command, check_health=False)
            self._local.due += 1
        except BaseException:
            self._drop(connection)
            raise

    def send_many(self, *commands: tuple[Any, ...]) -> None:
        """Write several commands in one write (as :meth:`send` does one).

        Example:
            >>> replies.send_many(("HSET", "h", "f", "v"), ("EXPIRE", "h", 30))  # doctest: +SKIP
        """
        connection = self._connection()
        try:
            if self._local.due >= READ_EVERY:
                self._read_due(connection)
            connection.send_packed_command([_packed(connection, commands)], check_health=False)
            self._local.due += len(commands)
        except BaseException:
            self._drop(connection)
            raise

    def send_all(self, *commands: tuple[Any, ...]) -> list[ResponseError]:
        """As :meth:`send_many`, but an earlier command's error reply never stops this write.

        Returns the error replies of earlier commands read on the way (a connection that
        fails still raises).

        Example:
            >>> replies.send_all(("HDEL", "h", "f"))                  # doctest: +SKIP
            []
        """
        connection = self._connection()
        try:
            errors = self._collect(connection)[1] if self._local.due >= READ_EVERY else []
            connection.send_packed_command([_packed(connection, commands)], check_health=False)
            self._local.due += len(commands)
        except BaseException:
            self._drop(connection)
            raise
        return errors

    def collect(self) -> list[Any]:
        """Read every reply due on this thread's connection, in order; error replies included.

        An error reply is returned as its :class:`~redis.exceptions.ResponseError`, not raised
        (a connection that fails still raises).

        Example:
            >>> replies.send_all(("GET", "key")); replies.collect()[-1]  # doctest: +SKIP
            b'value'
        """
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            return []
        try:
            return self._collect(connection)[0]
        except BaseException:
            self._drop(connection)
            raise

    def _collect(self, connection: Any) -> tuple[list[Any], list[ResponseError]]:
        replies: list[Any] = []
        errors: list[ResponseError] = []
        while self._local.due:
            self._local.due -= 1
            try:
                reply = connection.read_response()
            except ResponseError as error:  # the reply was read whole: the connection is in step
                reply = error
            replies.append(reply)
            errors += errors_in([reply])
        return replies, errors

    def drain(self) -> None:
        """Read every reply still due on this thread's connection (errors are raised)."""
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            return
        try:
            self._read_due(connection)
        except BaseException:
            self._drop(connection)
            raise

    def _connection(self) -> Any:
        local = self._local
        if getattr(local, "connection", None) is None or local.pid != os.getpid():
            # Taken out of the client's pool for good (as redis-py's PubSub takes one): this
            # thread keeps it, with replies still unread, until it fails.
            pool = self.client.connection_pool
            local.connection = connection = pool.get_connection()
            local.pid, local.due = os.getpid(), 0
            # Given back when the thread ends (a gevent/eventlet pool runs each job in a new
            # greenlet): its local, and this owner with it, go then.
            local.owner = owner = _Owner()
            local.give_back = weakref.finalize(owner, _give_back, pool, connection, local.pid)
        return local.connection

    def _read_due(self, connection: Any) -> None:
        while self._local.due:
            self._local.due -= 1
            connection.read_response()  # raises the command's error reply, if any

    def _drop(self, connection: Any) -> None:
        local = self._local
        local.connection, local.due = None, 0
        local.give_back.detach()  # given back here, now
        if local.pid == os.getpid():  # never close a socket a parent process still uses
            connection.disconnect()
            self.client.connection_pool.release(connection)


def errors_in(replies: list[Any]) -> list[ResponseError]:
    """The error replies among ``replies``, and inside those that are lists (joined scripts).

    Example:
        >>> [str(e) for e in errors_in([1, ResponseError("a"), [0, ResponseError("b")]])]
        ['a', 'b']
    """
    found: list[ResponseError] = []
    for reply in replies:
        if isinstance(reply, ResponseError):
            found.append(reply)
        elif isinstance(reply, list):
            found += [item for item in reply if isinstance(item, ResponseError)]
    return found


def _packed(connection: Any, commands: tuple[tuple[Any, ...], ...]) -> bytes:
    """``commands`` as ``connection`` would pack them (its encoder's encoding), in fewer steps."""
    encoder = connection.encoder
    return pack_commands(commands, encoder.encoding, encoder.encoding_errors)


class _Owner:
    """Lives as long as its thread's local: its end gives the thread's connection back."""


def _give_back(pool: Any, connection: Any, pid: int) -> None:
    if pid == os.getpid():  # never close a socket a parent process still uses
        connection.disconnect()  # replies still due are dropped; the commands were written
        pool.release(connection)
