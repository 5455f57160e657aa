"""Find one job by id wherever it is: scheduled set, dead letters, queues, or held by a worker."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..dead_letters import store_for
from ..scheduler import scheduled_set_for
from .queues import QueuedMessage, find_messages

DEAD_SCAN_LIMIT = 1000
"""Newest dead letters searched for a ``job_id`` (a letter's own id is always found directly)."""


@dataclasses.dataclass
class JobLookup:
    """Where a job id was found, with what each place holds.

    Example:
        >>> found = find_job(app, "3f2c…")                       # doctest: +SKIP
        >>> found.found, [letter.reason for letter in found.dead]  # doctest: +SKIP
        (True, ['exhausted'])
    """

    job_id: str
    scheduled: list[Any] = dataclasses.field(default_factory=list)
    dead: list[Any] = dataclasses.field(default_factory=list)
    messages: list[QueuedMessage] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    """Places that could not be searched, and why."""

    @property
    def found(self) -> bool:
        """Whether any place holds the job."""
        return bool(self.scheduled or self.dead or self.messages)

    @property
    def payload(self) -> Any:
        """The job payload from the first place that has one (None if none)."""
        for job in self.scheduled:
            return job.payload
        for message in self.messages:
            if message.payload is not None:
                return message.payload
        for letter in self.dead:
            return letter.payload
        return None


def find_job(app: Any, job_id: str) -> JobLookup:
    """Look ``job_id`` (or a Celery task id) up in every place a job can wait or rest.

    Example:
        >>> find_job(app, job.job_id).scheduled[0].run_at       # doctest: +SKIP
    """
    result = JobLookup(job_id=job_id)
    try:
        scheduled = scheduled_set_for(app).get(job_id)
    except Exception as error:  # one place failing must not hide the others
        result.problems.append(f"scheduled set: {error}")
    else:
        result.scheduled = [] if scheduled is None else [scheduled]
    try:
        result.dead = _dead_letters(app, job_id)
    except Exception as error:
        result.problems.append(f"dead letters: {error}")
    try:
        result.messages = find_messages(app, job_id)
    except Exception as error:
        result.problems.append(f"queues: {error}")
    return result


def _dead_letters(app: Any, job_id: str) -> list[Any]:
    store = store_for(app)
    direct = store.get(job_id)
    found = [] if direct is None else [direct]
    for letter in store.list(limit=DEAD_SCAN_LIMIT):
        if letter.job_id == job_id and all(letter.id != seen.id for seen in found):
            found.append(letter)
    return found
