"""Job and task ids: UUID4 text, made in batches, never shared with a forked child."""

from __future__ import annotations

import os
import uuid

from activejob_celery.ids import new_id, new_ids


def test_new_ids_makes_many_uuid4s_from_one_read():
    ids = new_ids(3000)
    assert len(set(ids)) == 3000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every variant digit appears: the random bits around the fixed ones are kept
    assert {text[19] for text in ids} == set("89ab")


def test_a_forked_child_does_not_reuse_the_parents_pooled_ids():
    new_id()  # the pool now holds ids made ahead
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.write(write_end, " ".join(new_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child = set(os.read(read_end, 4096).decode().split())
    os.close(read_end)
    assert len(child) == 5
    assert not child & {new_id() for _ in range(5)}
