"""Joined scripts on a real Redis: each part its own keys and arguments, and its own failure."""

from __future__ import annotations

from typing import Any

import redis

from activejob_celery.config import Settings
from activejob_celery.deferred_replies import DeferredReplies
from activejob_celery.joined_scripts import join_scripts, joined_command
from activejob_celery.run_marks import Ledger
from activejob_celery.status.store import START


def test_each_part_gets_its_own_keys_and_arguments(aj_redis: Any) -> None:
    client = redis.Redis.from_url(aj_redis.url)
    script = join_scripts(
        "return {#KEYS, #ARGV, KEYS[1], ARGV[1]}",
        "return redis.call('SET', KEYS[1], ARGV[2])",
        "return {#KEYS, #ARGV}",
    )
    command = joined_command(script, [(["js:a", "js:b"], ["x"]), (["js:c"], ["-", "v"]), ([], [])])
    assert client.execute_command(*command) == [[2, 1, b"js:a", b"x"], b"OK", [0, 0]]
    assert client.get("js:c") == b"v"
    client.close()


def test_a_failing_part_gives_its_error_in_its_place_and_the_next_parts_still_run(
    aj_redis: Any,
) -> None:
    client = redis.Redis.from_url(aj_redis.url)
    client.set("js:string", "x")
    script = join_scripts(
        "return redis.call('HSET', KEYS[1], 'f', 'v')",  # WRONGTYPE: a string
        "error('a Lua error')",
        "return redis.call('SET', KEYS[1], 'after')",
        "return false",
    )
    command = joined_command(script, [(["js:string"], []), ([], []), (["js:after"], []), ([], [])])
    wrong, lua, after, nothing = client.execute_command(*command)
    assert isinstance(wrong, redis.ResponseError) and "WRONGTYPE" in str(wrong)
    assert isinstance(lua, redis.ResponseError) and "a Lua error" in str(lua)
    assert after == b"OK" and nothing is None
    assert client.get("js:after") == b"after"
    client.close()


def test_the_status_start_and_run_mark_joined_write_what_each_writes_alone(aj_redis: Any) -> None:
    client = redis.Redis.from_url(aj_redis.url)
    ledger = Ledger(client, Settings())
    mark, _ended = ledger.start_command("job-js", "task-js#0")
    status = ("EVAL", START, 2, "js:status", "js:cancel", "1.5", 60, 120, "w1", "Job", "q")
    parts = [(list(c[3 : 3 + c[2]]), list(c[3 + c[2] :])) for c in (status, mark)]
    script = join_scripts(status[1], mark[1])
    replies = DeferredReplies(client)
    replies.send_all(joined_command(script, parts))
    assert replies.collect() == [[0, [0, 0]]]
    assert client.hget("js:status", "status") == b"running"
    assert client.hget(ledger.key("job-js"), "task") == b"task-js#0"
    replies.send_all(joined_command(script, parts))  # the same run once more: interrupted
    assert replies.collect() == [[0, [1, 1]]]
    client.close()
