"""A module no worker may import because a message named it; importing it leaves a file behind.

The hostile-input test names this module, its job class and its enum in payloads and Celery
task headers; the file at ``$AJ_IMPORT_CANARY`` (if set) must never appear.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from activejob_celery import ApplicationJob

_canary = os.environ.get("AJ_IMPORT_CANARY")
if _canary:
    Path(_canary).write_text(f"imported by pid {os.getpid()}\n")


class Color(enum.Enum):
    """An enum a payload may name with ``{"_aj_serialized": "enum", ...}``."""

    RED = "red"


class CanaryJob(ApplicationJob):
    """A real job class, but in a module the worker never imported: it is not registered."""

    job_name = "canary.CanaryJob"

    def perform(self, *args: object) -> None:
        Path(f"{_canary}.performed").write_text("performed\n")
