"""The statuses of a batch of enqueues (``perform_all_later``) as one script call.

A batch's status hashes are written by one ``EVAL`` riding in the batch's round trip: the job
class and queue go once per kind of job (not once per job) and, for delayed jobs, each job's
run time, so the arguments to pack and send are about one per job.

Example:
    >>> enqueued_batch(store, pipe, [job], "scheduled", [run_at])   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..packed_commands import pack

if TYPE_CHECKING:
    from ..base import ApplicationJob
    from .store import StatusStore

# KEYS: status hashes. ARGV: now, ttl, status, the number of kinds, then the job class, queue
# and how many of KEYS (in order) for each kind, then (delayed jobs) each key's run time: its
# hash gets ``run_at`` and lives ttl seconds past it, as ``StatusStore.enqueued`` writes it.
_ENQUEUED = """
local now, ttl, kinds = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local times = 4 + 3 * kinds
local timed = #ARGV > times
local k = 0
for g = 5, times, 3 do
  for _ = 1, tonumber(ARGV[g + 2]) do
    k = k + 1
    if timed then
      local at = ARGV[times + k]
      redis.call('HSET', KEYS[k], 'status', ARGV[3], 'updated_at', ARGV[1],
        'job_class', ARGV[g], 'queue', ARGV[g + 1], 'run_at', at)
      redis.call('EXPIRE', KEYS[k], ttl + math.max(0, math.floor(tonumber(at) - now)))
    else
      redis.call('HSET', KEYS[k], 'status', ARGV[3], 'updated_at', ARGV[1],
        'job_class', ARGV[g], 'queue', ARGV[g + 1])
      redis.call('EXPIRE', KEYS[k], ttl)
    end
  end
end
return k
"""


def batch_command(
    store: StatusStore,
    jobs: list[ApplicationJob],
    status: str = "queued",
    run_at: list[float] | None = None,
) -> list[Any]:
    """The ``EVAL`` command (name and arguments) writing the statuses of ``jobs`` (not empty).

    Example:
        >>> batch_command(store, [job])[0]                       # doctest: +SKIP
        'EVAL'
    """
    kinds: dict[tuple[str, str], list[int]] = {}
    for index, job in enumerate(jobs):
        kinds.setdefault((job.job_name, job.queue_name), []).append(index)
    prefix = store.prefix
    order = [index for group in kinds.values() for index in group]
    keys = [prefix + jobs[index].job_id for index in order]
    args: list[Any] = [repr(time.time()), store.waiting_ttl, status, len(kinds)]
    for (job_class, queue), group in kinds.items():
        args += (job_class, queue, len(group))
    if run_at is not None:
        args += [repr(run_at[index]) for index in order]
    return ["EVAL", _ENQUEUED, len(keys), *keys, *args]


def enqueued_batch(
    store: StatusStore,
    pipe: Any,
    jobs: list[ApplicationJob],
    status: str = "queued",
    run_at: list[float] | None = None,
) -> None:
    """Add the status writes of ``jobs`` to ``pipe`` as one command (``run_at``: one per job).

    Example:
        >>> enqueued_batch(store, pipe, jobs); pipe.execute()   # doctest: +SKIP
    """
    if jobs:
        pipe.execute_command(*batch_command(store, jobs, status, run_at))


def packed_batch(store: StatusStore, jobs: list[ApplicationJob], status: str = "queued") -> bytes:
    r"""The command of :func:`enqueued_batch`, packed (encoded by the store client's encoder).

    Example:
        >>> packed_batch(store, jobs)[:14]                       # doctest: +SKIP
        b'*1005\r\n$4\r\nEVAL'
    """
    encode: Callable[[Any], bytes] = store.client.get_encoder().encode
    return pack([encode(arg) for arg in batch_command(store, jobs, status)])
