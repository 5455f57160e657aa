"""contrib.django on PostgreSQL: commit, rollback and savepoint cases, in a process of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.postgres import HOST, USER, PostgresServer

ROOT = Path(__file__).resolve().parents[2]


def test_django_on_postgresql(postgres: PostgresServer) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.contrib.django_postgres_check",
         HOST, str(postgres.port), USER, "postgres"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr
