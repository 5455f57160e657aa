"""One job's push and ``queued`` status as a pre-packed EVALSHA: the single enqueue's hot path.

:meth:`StatusStore.push <activejob_celery.status.store.StatusStore.push>` sends one ``EVALSHA``
of the push script per ``perform_later``. Through redis-py that call packs all eleven arguments
with its generic encoder (type checks for each) and goes through the script wrapper, the
command dispatcher and its observability hooks. Here the constant parts of the command (the
script's sha, the list key, the TTL, ``queued``, the job class and queue) are packed once per
kind of job, and only the status key, the message and the time are added per job; the command
goes out with redis-py's public ``Connection.send_packed_command`` on a connection of the
client's own pool, under the connection's own retry policy, as redis-py sends it.

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

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from ..base import ApplicationJob
    from .store import StatusStore

Kind = tuple[bytes, str, str]
"""A list key, a job class and a queue: what the constant parts of a push depend on."""


def usable(client: Any) -> bool:
    """Whether ``client`` sends commands one per pooled connection, as redis-py's own path does.

    Example:
        >>> usable(redis.Redis())
        True
    """
    return (
        isinstance(client, redis.Redis)
        and client.connection is None
        and getattr(client.connection_pool, "cache", None) is None
    )


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
    parts = [b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args]
    return b"*%d\r\n%s" % (len(parts), b"".join(parts))


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
        pool = self.client.connection_pool
        connection: Any = pool.get_connection()
        try:

            def send() -> Any:
                connection.send_packed_command([packed])
                return connection.read_response()

            connection.retry.call_with_retry(send, lambda error: connection.disconnect())
        except NoScriptError:  # nothing ran: the wrapper loads the script and sends again
            pool.release(connection)
            self._through_wrapper(list_key, message, job, now)
            return
        except BaseException:
            pool.release(connection)
            raise
        pool.release(connection)

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
