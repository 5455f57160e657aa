"""One job's push and ``queued`` status as a pre-packed EVALSHA: the single enqueue's hot path.

:meth:`StatusStore.push <activejob_celery.status.store.StatusStore.push>` sends one ``EVALSHA``
of the push script per ``perform_later``. Through redis-py that call packs all eleven arguments
with its generic encoder (type checks for each) and goes through the script wrapper, the
command dispatcher and its observability hooks. Here the constant parts of the command (the
script's sha, the list key, the TTL, ``queued``, the job class and queue) are packed once per
kind of job, and only the status key, the message and the time are added per job; the command
goes out with redis-py's public ``Connection.send_packed_command`` under the connection's own
retry policy, as redis-py sends it. The connection is one the process takes from the client's
pool once and keeps (checking a connection out of the pool and back costs more than the round
trip on a local Redis); a thread that finds it busy uses one of the pool, as redis-py would. A
forked child takes its own.

The arguments Redis receives are the same bytes redis-py would send (``encode`` below is its
encoder's), so the list and the status hash end the same. A ``NOSCRIPT`` reply (Redis
restarted, ``SCRIPT FLUSH``) means nothing ran: the command is sent again through the script
wrapper, which loads the script first. A client this cannot serve the same way (one held
connection, a client-side cache, not a plain ``redis.Redis``) gets the wrapper's path.

Example:
    >>> packed = PackedPush(store)                              # doctest: +SKIP
    >>> packed.push(b"default", raw_message, job)               # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from ..packed_commands import bulk, usable

if TYPE_CHECKING:
    import redis

    from ..base import ApplicationJob
    from .store import StatusStore

Kind = tuple[bytes, str, str]
"""A list key, a job class and a queue: what the constant parts of a push depend on."""


_pushers: weakref.WeakSet[PackedPush] = weakref.WeakSet()


def _forget_after_fork() -> None:
    for pusher in list(_pushers):
        pusher.forget()


os.register_at_fork(after_in_child=_forget_after_fork)


def _send(connection: Any, packed: bytes) -> bool:
    """Send ``packed`` and read its reply under the connection's retry; False on NOSCRIPT."""

    def send() -> Any:
        connection.send_packed_command([packed])
        return connection.read_response()

    try:
        connection.retry.call_with_retry(send, lambda error: connection.disconnect())
    except NoScriptError:
        return False
    except BaseException:
        connection.disconnect()  # a reply may be left unread: never reuse the connection as is
        raise
    return True


def _never() -> bool:
    return False


class PackedPush:
    """The push script's EVALSHA for one job, packed from per-kind constant parts.

    Example:
        >>> PackedPush(store).push(b"default", raw_message, job)  # doctest: +SKIP
    """

    def __init__(self, store: StatusStore, script: Any) -> None:
        self.store = store
        self.script = script
        self.client: redis.Redis = store.client
        self.encode: Callable[[Any], bytes] = self.client.get_encoder().encode
        self.prefix = store.prefix
        self._parts: dict[Kind, tuple[bytes, bytes]] = {}
        self._sha = ""
        self._held: Any = None
        self._pid = 0
        self._lock = threading.Lock()
        _pushers.add(self)

    def command(self, list_key: bytes, message: bytes, job: ApplicationJob, now: str) -> bytes:
        r"""The packed EVALSHA for ``job`` (what redis-py's ``evalsha`` would send).

        Example:
            >>> packed.command(b"default", b"{}", job, "1.5")     # doctest: +SKIP
            b'*11\r\n$7\r\nEVALSHA\r\n...'
        """
        kind = (list_key, job.job_name, job.queue_name)
        if self._sha != self.script.sha:  # loaded again under another sha: pack anew
            self._parts, self._sha = {}, self.script.sha
        parts = self._parts.get(kind)
        if parts is None:
            parts = self._parts[kind] = self._pack_parts(kind)
        head, tail = parts
        key = self.encode(self.prefix + job.job_id)
        return b"%s$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n%s" % (
            head, len(key), key, len(message), message, len(now), now.encode(), tail,
        )  # fmt: skip

    def push(self, list_key: bytes, message: bytes, job: ApplicationJob) -> None:
        """LPUSH ``message`` and write ``job``'s ``queued`` status: one command, one reply.

        Connection errors are retried as redis-py retries the same command (the connection's
        ``retry``, disconnecting before each new try); other errors propagate.
        """
        now = repr(time.time())
        if not usable(self.client):
            self._through_wrapper(list_key, message, job, now)
            return
        packed = self.command(list_key, message, job, now)
        if self._lock.acquire(blocking=False):  # this process's held connection is free
            try:
                sent = _send(self._connection(), packed)
            finally:
                self._lock.release()
        else:  # another thread pushes on it now: a connection of the pool, as redis-py does
            pool = self.client.connection_pool
            connection = pool.get_connection()
            try:
                sent = _send(connection, packed)
            finally:
                pool.release(connection)
        if not sent:  # NOSCRIPT, nothing ran: the wrapper loads the script and sends again
            self._through_wrapper(list_key, message, job, now)

    def forget(self) -> None:
        """Drop the held connection without closing it (a forked child: its parent's socket)."""
        self._held, self._pid = None, 0
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        """The connection this process holds (taken from the client's pool once, kept)."""
        held = self._held
        if held is None or self._pid != os.getpid():
            held = self._held = self.client.connection_pool.get_connection()
            self._pid = os.getpid()
        elif getattr(held, "should_reconnect", _never)():  # as the pool does on release
            held.disconnect()  # (redis-py >= 7 only: a maintenance notice asked for it)
        return held

    def _through_wrapper(
        self, list_key: bytes, message: bytes, job: ApplicationJob, now: str
    ) -> None:
        keys: list[Any] = [list_key, self.prefix + job.job_id]
        args: list[Any] = [message, now, self.store.waiting_ttl, "queued"]
        args += [job.job_name, job.queue_name]
        self.script(keys=keys, args=args)

    def _pack_parts(self, kind: Kind) -> tuple[bytes, bytes]:
        list_key, job_class, queue = kind
        head = [b"EVALSHA", self.encode(self.script.sha), b"2", self.encode(list_key)]
        tail = [self.store.waiting_ttl, "queued", job_class, queue]
        return (
            b"*11\r\n" + b"".join(bulk(part) for part in head),
            b"".join(bulk(self.encode(part)) for part in tail),
        )
