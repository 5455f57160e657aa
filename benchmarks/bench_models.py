"""Model-argument twins for `benchmarks/run.py`: a job taking a Django model, a task its key.

Imported by ``bench_app`` when ``$BENCH_MODELS_DB`` names a SQLite file (the driver's models
phase and the worker it starts for it), so the other phases' workers stay without Django. The
job gets its ``Customer`` located from a GlobalID; the plain task gets the primary key and loads
the row itself, as a Celery project would write it.
"""

from __future__ import annotations

import os

from tests.contrib.shop_settings import configure_shop

configure_shop(
    {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_MODELS_DB"],
        "OPTIONS": {"timeout": 30},
    }
)

from bench_app import COUNTER_KEY, QUEUE, app, client  # noqa: E402

from activejob_celery import ApplicationJob, queue_as  # noqa: E402
from tests.contrib.shop.models import Customer  # noqa: E402


@app.task(name="bench.count_customer")
def count_customer(customer_id: int) -> None:
    """Load the row by its key, then count."""
    assert Customer.objects.get(pk=customer_id).name
    client().incr(COUNTER_KEY)


class CustomerJob(ApplicationJob):
    """The job twin: the customer travels as a GlobalID and arrives loaded."""

    queue_as(QUEUE)
    job_name = "bench.CustomerJob"

    def perform(self, customer: Customer) -> None:
        assert customer.name
        client().incr(COUNTER_KEY)
