"""Several Redis scripts run as one command: one write, one reply, each part's result inside.

A worker's run writes its status, its listing as running and its run mark when it starts, and
its outcome and unlisting when it ends. Each was its own command; joined, a run sends one
command at each end, and Redis and the worker handle one reply instead of two. Each part keeps
its own script text, its own ``KEYS`` and ``ARGV`` (sliced out of the joined command's by the
counts that lead its ``ARGV``), and its own failure: a part that raises gives its error in its
place in the reply, and the parts after it still run, as separate commands would.

Example:
    >>> script = join_scripts("return ARGV[1]", "return #KEYS")
    >>> joined_command(script, [([], ["a"]), (["k1", "k2"], [])])[2:]
    (2, 'k1', 'k2', 0, 1, 2, 0, 'a')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_DISPATCH = """
local parts = {%s}
local results = {}
local key, arg = 1, 2 * #parts + 1
for i = 1, #parts do
  local keys, argv = {}, {}
  for j = 1, tonumber(ARGV[2 * i - 1]) do keys[j] = KEYS[key]; key = key + 1 end
  for j = 1, tonumber(ARGV[2 * i]) do argv[j] = ARGV[arg]; arg = arg + 1 end
  local ok, result = pcall(parts[i], keys, argv)
  if not ok then
    if type(result) == 'table' and result.err then result = {err = result.err}
    else result = {err = tostring(result)} end
  elseif result == nil or result == false then
    result = false
  end
  results[i] = result
end
return results
"""


def join_scripts(*bodies: str) -> str:
    """One script running ``bodies`` in order, each a function of its own ``KEYS``/``ARGV``.

    A part that returns nil or false gives a nil reply in its place.

    Example:
        >>> "local function part1(KEYS, ARGV)" in join_scripts("return 1")
        True
    """
    functions = [
        f"local function part{i}(KEYS, ARGV)\n{body.strip()}\nend\n"
        for i, body in enumerate(bodies, 1)
    ]
    names = ", ".join(f"part{i}" for i in range(1, len(bodies) + 1))
    return "".join(functions) + _DISPATCH % names


def joined_command(
    script: str, parts: Sequence[tuple[Sequence[Any], Sequence[Any]]]
) -> tuple[Any, ...]:
    """The ``EVAL`` of a :func:`join_scripts` script, given each part's keys and arguments.

    Example:
        >>> joined_command("...", [(["k"], [1, 2])])
        ('EVAL', '...', 1, 'k', 1, 2, 1, 2)
    """
    keys = [key for part_keys, _ in parts for key in part_keys]
    counts = [count for part_keys, args in parts for count in (len(part_keys), len(args))]
    args = [arg for _, part_args in parts for arg in part_args]
    return ("EVAL", script, len(keys), *keys, *counts, *args)
