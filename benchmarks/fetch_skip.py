"""A/B of reliable fetch's unacked-write skip alone: a kombu consumer pops and acks N messages.

Each round publishes N small messages to a private Redis, then a kombu Redis channel with
reliable fetch pops each one (one turn of kombu's poll loop) and acks it, once with kombu's
own unacked write after the script and once without it (the skip), alternately.

Usage: ``python benchmarks/fetch_skip.py [N] [rounds]`` (defaults 3000 and 5).
"""

from __future__ import annotations

import statistics
import sys
import time
from unittest import mock

from kombu import Connection, Exchange, Producer, Queue

from activejob_celery import internals
from activejob_celery.reliable_fetch import use_reliable_fetch
from tests.support.redis_server import RedisServer

QUEUE = Queue("ab", Exchange("ab"), routing_key="ab")


def one_round(url: str, n: int, skip: bool) -> tuple[float, float]:
    """Publish ``n`` messages, pop and ack them; (CPU µs, wall µs) per message."""
    with Connection(url) as sender:
        producer = Producer(sender.channel(), exchange=Exchange("ab"), routing_key="ab")
        for i in range(n):
            producer.publish({"i": i}, declare=[QUEUE])
    connection = Connection(url)
    channel = connection.channel()
    QUEUE(channel).declare()
    with mock.patch.object(internals, "can_skip_unacked_write", lambda qos: skip):
        assert use_reliable_fetch(channel)
    received: list[object] = []
    channel.basic_consume("ab", no_ack=False, callback=received.append, consumer_tag="ab")
    cycle = connection.transport.cycle
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        cycle._register_BRPOP(channel)  # what kombu's poller does before each read
        channel.handlers["BRPOP"]()
        received[-1].ack()  # type: ignore[attr-defined]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    connection.release()
    return cpu / n * 1e6, wall / n * 1e6


def main() -> None:
    """Print the median CPU and wall time per message with the skip off and on."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with RedisServer.start_private() as server:
        results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for index in range(rounds):
            for skip in (False, True):
                results[skip].append(one_round(server.url(index % 8), n, skip))
    for skip, measured in results.items():
        cpu = statistics.median(m[0] for m in measured)
        wall = statistics.median(m[1] for m in measured)
        print(f"skip {'on ' if skip else 'off'}: {cpu:.0f} µs CPU, {wall:.0f} µs wall per message")


if __name__ == "__main__":
    main()
