"""Drain N jobs (or plain tasks) with one solo worker: jobs/s and the worker's CPU per message.

Usage: ``python benchmarks/prof_run.py job|task|late N OUT`` where ``late`` is plain tasks with
``acks_late``; OUT is ``-`` (no profiler: prints jobs/s and CPU per message), or a file for
cProfile's stats (``PROF_CPU=1``: with a CPU-time clock, see ``cpu_profile.py``). ``WT`` names
the checkout to run (default: this one); ``BENCH_PURE_CELERY=1`` as in ``run.py``.

Example:
    WT=/work/main python benchmarks/prof_run.py job 3000 -
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WT = os.environ.get("WT", str(Path(__file__).resolve().parent.parent))
sys.path[:0] = [WT, WT + "/benchmarks"]


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().split()
    return int(fields[13]) + int(fields[14])


def main(kind: str, n: int, out: str) -> None:
    # imported here: the checkout to measure (WT) goes on sys.path first
    from tests.support.redis_server import RedisServer

    with RedisServer.start_private() as server:
        os.environ["BENCH_REDIS_URL"] = server.url(0)
        os.environ["BENCH_QUEUE"] = "bench"
        if kind == "late":
            os.environ["BENCH_PLAIN_ACKS_LATE"] = "1"
        import bench_app as ba  # here: it reads the environment above at import

        r = ba.client()
        r.delete(ba.COUNTER_KEY)
        if kind == "job":
            from activejob_celery import perform_all_later

            perform_all_later([ba.CountJob(i) for i in range(n)])
        else:
            with ba.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
                for i in range(n):
                    ba.count.apply_async(args=(i,), producer=producer)
        cmd = [sys.executable]
        if out != "-" and os.environ.get("PROF_CPU"):
            cmd += [WT + "/benchmarks/cpu_profile.py", out]
        elif out != "-":
            cmd += ["-m", "cProfile", "-o", out, "-m", "celery"]
        else:
            cmd += ["-m", "celery"]
        cmd += ["-A", "bench_app", "worker", "--pool=solo", "-l", "warning", "-Q", "bench"]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        cmd += ["-n", f"prof{os.getpid()}@%h"]
        env = {**os.environ, "PYTHONPATH": f"{WT}/benchmarks:{WT}"}
        worker = subprocess.Popen(cmd, cwd=WT + "/benchmarks", env=env)
        t0 = d0 = c0 = 0
        while True:
            done = int(r.get(ba.COUNTER_KEY) or 0)
            if done and not t0:
                t0, d0, c0 = time.perf_counter(), done, _cpu_ticks(worker.pid)
            if done >= n:
                break
            time.sleep(0.002)
        t1, c1 = time.perf_counter(), _cpu_ticks(worker.pid)
        per_message = (c1 - c0) / os.sysconf("SC_CLK_TCK") / (n - d0) * 1e6
        print(f"{kind}: {(n - d0) / (t1 - t0):.0f}/s cpu/msg {per_message:.0f}us", flush=True)
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
