"""Found by the Django app's discovery of ``jobs`` modules."""

from __future__ import annotations

from typing import Any

from activejob_celery import ApplicationJob

performed: list[Any] = []


class DiscoveredJob(ApplicationJob):
    def perform(self, value: Any) -> None:
        performed.append(value)
