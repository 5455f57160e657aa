"""Test infrastructure shared by unit, integration and acceptance tests.

``redis_server`` is standalone (stdlib + redis-py) so examples and benchmarks can load it by
path; ``worker`` needs Celery.
"""

from tests.support.redis_server import (
    INSTALL_HINT,
    RedisServer,
    RedisServerNotFoundError,
    find_redis_server,
    free_port,
)
from tests.support.worker import WorkerProcess, run_worker, run_worker_subprocess, wait_for

__all__ = [
    "INSTALL_HINT",
    "RedisServer",
    "RedisServerNotFoundError",
    "WorkerProcess",
    "find_redis_server",
    "free_port",
    "run_worker",
    "run_worker_subprocess",
    "wait_for",
]
