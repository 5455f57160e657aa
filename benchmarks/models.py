"""Jobs taking a Django model (GlobalID) against the same jobs taking its primary key.

Both jobs fetch the row in the worker: the first gets it located from its GlobalID, the second
calls ``Customer.objects.get(pk=...)`` itself. Measures enqueue (``perform_later`` in a loop)
and drain (an in-process solo worker) of ``--n`` jobs each, on SQLite and a private Redis, and
prints the GlobalID / primary key time ratio (target: within 1.3x).

Usage:
    .venv/bin/python benchmarks/models.py                   # 10 000 jobs of each kind
    .venv/bin/python benchmarks/models.py --n 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from tests.contrib.shop_settings import configure_shop  # noqa: E402

DIRECTORY = Path(tempfile.mkdtemp(prefix="aj-bench-models-"))
configure_shop(
    {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DIRECTORY / "db.sqlite3"),
        "OPTIONS": {"timeout": 30},
    }
)

from django.core.management import call_command  # noqa: E402

from activejob_celery import ApplicationJob  # noqa: E402
from tests.contrib.shop.models import Customer  # noqa: E402
from tests.support.fixtures import make_app  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.worker import run_worker, wait_for  # noqa: E402

done = {"count": 0}
lock = threading.Lock()


def _count(customer: Customer) -> None:
    assert customer.name
    with lock:
        done["count"] += 1


class ModelJob(ApplicationJob):
    def perform(self, customer: Customer) -> None:
        _count(customer)


class KeyJob(ApplicationJob):
    def perform(self, customer_id: int) -> None:
        _count(Customer.objects.get(pk=customer_id))


def measure(
    app: object, job_class: type[ApplicationJob], arguments: list[object]
) -> dict[str, float]:
    """Seconds to enqueue every job, then to perform them all."""
    done["count"] = 0
    started = time.perf_counter()
    for argument in arguments:
        job_class.perform_later(argument)
    enqueued = time.perf_counter()
    with run_worker(app):  # type: ignore[arg-type]
        begun = time.perf_counter()
        wait_for(lambda: done["count"] >= len(arguments), timeout=3600, interval=0.05)
        drained = time.perf_counter()
    return {"enqueue_s": enqueued - started, "perform_s": drained - begun}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    options = parser.parse_args()
    call_command("migrate", run_syncdb=True, verbosity=0)
    Customer.objects.bulk_create(Customer(name=f"c{i}") for i in range(options.n))
    customers = list(Customer.objects.order_by("pk"))
    with RedisServer.start_private() as server:
        app = make_app(server.url(0))
        results = {
            "primary key": measure(app, KeyJob, [customer.pk for customer in customers]),
            "GlobalID": measure(app, ModelJob, list(customers)),
        }
    for label, result in results.items():
        total = result["enqueue_s"] + result["perform_s"]
        print(f"{label:12} enqueue {result['enqueue_s']:.2f} s  perform {result['perform_s']:.2f} s"
              f"  total {total:.2f} s  ({options.n} jobs)")  # fmt: skip
    key, gid = results["primary key"], results["GlobalID"]
    ratio = (gid["enqueue_s"] + gid["perform_s"]) / (key["enqueue_s"] + key["perform_s"])
    print(f"GlobalID / primary key: {ratio:.2f}x (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
