"""What the benchmark phases read off a worker process and a sample: percentiles, RSS, CPU."""

from __future__ import annotations

import os


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile of ``values``."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def rss_mb(pid: int) -> tuple[float, float]:
    """(main process RSS, main + children RSS) in MiB, from /proc."""

    def rss(one: int) -> int:
        with open(f"/proc/{one}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(x) for x in f.read().split()]
    except OSError:
        children = []
    main = rss(pid)
    return main / 2**20, (main + sum(rss(child) for child in children)) / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (prefork's pool), from /proc.

    On a shared, noisy machine the CPU a worker spends per job varies far less than its wall
    clock rate, so the drains report it too.
    """

    def ticks(one: int) -> int:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)

    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(x) for x in f.read().split()]
    except OSError:
        children = []
    return (ticks(pid) + sum(ticks(child) for child in children)) / os.sysconf("SC_CLK_TCK")
