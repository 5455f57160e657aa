"""``celery -A app jobs dead ...`` and ``jobs stats`` as subprocesses, against a seeded store."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from activejob_celery.config import Settings
from activejob_celery.dead_letters import DeadLetter, DeadLetterStore
from activejob_celery.dead_letters.record import FIELDS
from tests.integration.dead_letters_support import job_payload
from tests.support.broker_lists import queue_entries, queue_length
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.apps.dead_letters_app"
IMPORT = "shop.jobs.ImportCatalogJob"
RECEIPT = "shop.jobs.SendReceiptJob"


def jobs(url: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AJ_DEAD_LETTERS_REDIS_URL": url, "COLUMNS": "200"}
    command = [sys.executable, "-m", "celery", "-A", APP, "jobs", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == expect, (
        f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done


def letter(
    job_class: str, *, reason: str, hours_ago: float = 0, queue: str = "imports"
) -> DeadLetter:
    payload = job_payload(job_class, 7, queue_name=queue, executions=2)
    payload["exception_executions"] = {"[SupplierTimeout]": 1}
    return DeadLetter(
        id=str(uuid.uuid4()),
        job_id=payload["job_id"],
        job_class=job_class,
        queue_name=queue,
        payload=payload,
        error_class="tests.integration.apps.dead_letters_app.SupplierTimeout",
        error_message="supplier API timed out for batch 7",
        traceback='Traceback (most recent call last):\n  File "jobs.py", line 3, in perform\n',
        reason=reason,
        attempts=2,
        failed_at=datetime.now(timezone.utc) - timedelta(hours=hours_ago),
    )


@pytest.fixture
def aj_seeded(aj_redis):
    store = DeadLetterStore.from_url(aj_redis.url, settings=Settings())
    exhausted = store.record(letter(IMPORT, reason="exhausted"))
    discarded = store.record(letter(RECEIPT, reason="discarded", hours_ago=5, queue="default"))
    malformed = store.record(
        dataclasses.replace(
            letter(IMPORT, reason="malformed_message", hours_ago=50),
            job_id=None,
            payload={
                "raw": "{not json",
                "raw_encoding": "utf-8",
                "raw_size": 9,
                "truncated": False,
            },
        )
    )
    yield store, exhausted, discarded, malformed
    store.close()


def test_list_prints_a_table_and_json_with_every_field(aj_redis, aj_seeded):
    _store, exhausted, discarded, malformed = aj_seeded
    table = jobs(aj_redis.url, "dead", "list").stdout
    lines = table.splitlines()
    assert lines[0].split() == [
        "ID",
        "FAILED",
        "AT",
        "(UTC)",
        "REASON",
        "CLASS",
        "QUEUE",
        "ATTEMPTS",
        "ERROR",
    ]
    assert [line.split()[0] for line in lines[1:4]] == [
        exhausted.id[:8],
        discarded.id[:8],
        malformed.id[:8],
    ]
    assert "SupplierTimeout: supplier API timed out for batch 7" in lines[1]
    assert lines[-1] == "3 dead letters"

    listed = json.loads(jobs(aj_redis.url, "dead", "list", "--json").stdout)
    assert [entry["id"] for entry in listed] == [exhausted.id, discarded.id, malformed.id]
    assert all(list(entry) == list(FIELDS) for entry in listed)
    assert listed[0]["payload"] == exhausted.payload

    def ids(*filters: str) -> list[str]:
        found = json.loads(jobs(aj_redis.url, "dead", "list", "--json", *filters).stdout)
        return [entry["id"] for entry in found]

    assert ids("--reason", "exhausted") == [exhausted.id]
    assert ids("--class", "SendReceiptJob") == [discarded.id]
    assert ids("--queue", "imports", "--since", "1d") == [exhausted.id]
    assert ids("--error", "SupplierTimeout", "--limit", "2") == [exhausted.id, discarded.id]
    bad = jobs(aj_redis.url, "dead", "list", "--since", "soon", expect=2)
    assert "neither a duration" in bad.stderr


def test_show_prints_the_payload_and_the_traceback(aj_redis, aj_seeded):
    _store, exhausted, _, _ = aj_seeded
    shown = jobs(aj_redis.url, "dead", "show", exhausted.id[:8]).stdout
    assert shown.startswith(f"Dead letter {exhausted.id}\n")
    assert f"\n  Job id:    {exhausted.job_id}\n" in shown
    assert "\n  Reason:    exhausted\n" in shown
    assert "\n  Retryable: yes\n" in shown
    assert '"arguments": [\n      7\n    ]' in shown
    assert 'File "jobs.py", line 3, in perform' in shown
    as_json = json.loads(jobs(aj_redis.url, "dead", "show", exhausted.id, "--json").stdout)
    assert as_json["traceback"] == exhausted.traceback
    missing = jobs(aj_redis.url, "dead", "show", "nope", expect=1)
    assert "No dead letter with id 'nope'" in missing.stderr


def test_retry_republishes_with_reset_counters_and_removes_the_record(aj_redis, aj_seeded):
    store, exhausted, _, malformed = aj_seeded
    done = jobs(aj_redis.url, "dead", "retry", exhausted.id[:10])
    [line, summary] = done.stdout.splitlines()
    assert line.startswith(f"Retried {exhausted.id} as task ")
    assert summary == "Retried 1 of 1 dead letters."
    [raw] = queue_entries(aj_redis.client, "imports")
    message = json.loads(raw)
    [payload], _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert message["headers"]["task"] == IMPORT
    assert message["headers"]["id"] == line.rsplit(" ", 1)[1] == payload["provider_job_id"]
    assert (payload["job_id"], payload["arguments"]) == (exhausted.job_id, [7])
    assert (payload["executions"], payload["exception_executions"]) == (0, {})
    assert store.get(exhausted.id) is None

    refused = jobs(aj_redis.url, "dead", "retry", malformed.id, expect=1)
    assert f"Not retried {malformed.id}: it is a malformed message" in refused.stderr
    assert refused.stdout.splitlines()[-1] == "Retried 0 of 1 dead letters."
    assert store.get(malformed.id) is not None
    usage = jobs(aj_redis.url, "dead", "retry", expect=2)
    assert "Give dead-letter ids, or --all" in usage.stderr


def test_bulk_retry_shows_progress_and_works_in_batches(aj_redis, aj_seeded):
    store = aj_seeded[0]
    for _ in range(4):
        store.record(letter(IMPORT, reason="unhandled"))
    done = jobs(aj_redis.url, "dead", "retry", "--all", "--class", IMPORT, "--reason",
                "unhandled", "--batch-size", "2")  # fmt: skip
    assert "Retrying" in done.stderr  # click's progress bar (label only, off a terminal)
    assert done.stdout.splitlines()[-1] == "Retried 4 of 4 dead letters."
    assert queue_length(aj_redis.client, "imports") == 4
    assert store.count() == 3


def test_discard_and_purge(aj_redis, aj_seeded):
    store, exhausted, discarded, _malformed = aj_seeded
    assert (
        jobs(aj_redis.url, "dead", "discard", discarded.id).stdout == "Discarded 1 dead letter.\n"
    )
    done = jobs(aj_redis.url, "dead", "discard", "--all", "--reason", "malformed_message", "--yes")
    assert done.stdout == "Discarded 1 dead letter.\n"
    assert [each.id for each in store.list()] == [exhausted.id]
    for hours in (100, 200, 300):
        store.record(letter(IMPORT, reason="unhandled", hours_ago=hours))
    done = jobs(aj_redis.url, "dead", "purge", "--older-than", "2d", "--yes")
    assert "Purging" in done.stderr
    assert done.stdout == "Purged 3 dead letters.\n"
    assert [each.id for each in store.list()] == [exhausted.id]
    jobs(aj_redis.url, "dead", "purge", "--yes", expect=2)


def test_stats_counts_queues_scheduled_and_dead_letters(aj_redis, aj_seeded):
    aj_redis.client.zadd("activejob:scheduled", {"a": 1, "b": 2})
    aj_redis.client.lpush("imports", "m1", "m2")
    aj_redis.client.lpush("imports\x06\x163", "m3")  # a priority bucket of the same queue
    report = json.loads(jobs(aj_redis.url, "stats", "--json").stdout)
    assert report["queues"]["imports"] == 3
    assert report["queues"]["default"] == 0
    assert report["scheduled"] == 2
    assert report["dead"] == {"total": 3, "by_class": {IMPORT: 2, RECEIPT: 1}}
    table = jobs(aj_redis.url, "stats").stdout
    assert "imports      3" in table
    assert "Scheduled:      2" in table
    assert f"{IMPORT}     2" in table


def test_a_real_worker_records_and_the_cli_retries(aj_redis):
    env = {"AJ_DEAD_LETTERS_REDIS_URL": aj_redis.url}
    with run_worker_subprocess(
        APP, cwd=ROOT, env=env, pool="prefork", queues=["imports", "default"]
    ) as worker:
        worker.wait_ready()
        jobs_code = f"from {APP} import ImportCatalogJob; ImportCatalogJob.perform_later(3)"
        subprocess.run([sys.executable, "-c", jobs_code], cwd=ROOT, env={**os.environ, **env},
                       check=True, timeout=60)  # fmt: skip
        store = DeadLetterStore.from_url(aj_redis.url, settings=Settings())
        wait_for(lambda: store.count() == 1, timeout=30)
        [listed] = json.loads(jobs(aj_redis.url, "dead", "list", "--json").stdout)
        assert (listed["reason"], listed["attempts"], listed["job_class"]) == (
            "exhausted",
            2,
            IMPORT,
        )
        aj_redis.client.sadd("aj:fixed", 3)
        jobs(aj_redis.url, "dead", "retry", listed["id"])
        wait_for(lambda: aj_redis.client.llen("aj:ran") == 1, timeout=30)
    assert aj_redis.client.lrange("aj:ran", 0, -1) == [f"3:1:{listed['job_id']}".encode()]
    assert store.count() == 0
    store.close()
