"""Limits and unique locks on a ``sentinel://`` broker: the locks are in the master it names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activejob_celery import ApplicationJob, limits_concurrency, queue_as, unique
from activejob_celery.concurrency import store_for_app
from tests.integration.test_sentinel import master_client, sentinel_app
from tests.support.fixtures import JobBuffer
from tests.support.sentinel import SentinelCluster
from tests.support.worker import run_worker, wait_for


@pytest.fixture(scope="module")
def aj_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    with SentinelCluster.start_private(workdir=tmp_path_factory.mktemp("sentinel")) as cluster:
        yield cluster


def test_limits_and_unique_on_sentinel(
    aj_sentinel: SentinelCluster, aj_job_buffer: JobBuffer
) -> None:
    app = sentinel_app(aj_sentinel)

    class SentinelLimitedJob(ApplicationJob):
        queue_as("sentinel_limits")
        limits_concurrency(to=1)
        unique(key=lambda n: n)

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)

    first, second = SentinelLimitedJob.perform_later(1), SentinelLimitedJob.perform_later(2)
    duplicate = SentinelLimitedJob.perform_later(2)
    assert first and second and first.successfully_enqueued and second.successfully_enqueued
    assert duplicate is False or not duplicate.successfully_enqueued
    store = store_for_app(app)
    assert store is not None and store.blocked_count() == 1
    with master_client(aj_sentinel, app) as client:
        assert client.hlen(store.payloads_key) == 1  # in the master the Sentinel names
    with run_worker(app, queues=["sentinel_limits"], pool="threads", concurrency=2):
        wait_for(lambda: sorted(aj_job_buffer.values) == [1, 2], timeout=60)
    assert store.keys_in_use() == []
    app.close()
