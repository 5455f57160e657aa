"""Closing a Celery app's Redis result backend in a test, while its server is still up."""

from __future__ import annotations

import gc

from celery import Celery

# Celery's Redis backend opens a pub/sub connection again when a result it waited for is
# collected after the consumer stopped; the socket is closed by the collector, not by us.
UNCLOSED_SOCKETS = (
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)


def close_results(app: Celery) -> None:
    """Collect finished results, stop the backend's pub/sub consumer and close its connections.

    Celery's Redis backend subscribes for the results of groups, chords and chains; one
    collected after the test's Redis server is gone would unsubscribe on a dead connection
    (an unraisable error at the end of the session).
    """
    backend = app.backend
    consumer = getattr(backend, "result_consumer", None)
    for _ in range(2):  # a result collected during the first stop may subscribe again
        gc.collect()
        if consumer is not None:
            consumer.stop()
    client = getattr(backend, "client", None)
    if client is not None:
        client.connection_pool.disconnect()
    app.close()
