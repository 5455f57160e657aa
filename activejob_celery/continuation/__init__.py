"""Continuations: jobs in steps that resume where they stopped (Rails 8.1 ``Continuable``).

Example:
    >>> from activejob_celery import ApplicationJob, Continuable
    >>> class ImportJob(Continuable, ApplicationJob):          # doctest: +SKIP
    ...     def perform(self, import_id):
    ...         self.step("validate", self.validate)
"""

from __future__ import annotations

from .mixin import Continuable
from .state import Continuation
from .step import Step
from .stopping import should_stop, stop_reason
from .transactions import add_transaction_check, remove_transaction_check

__all__ = [
    "Continuable",
    "Continuation",
    "Step",
    "should_stop",
    "stop_reason",
    "add_transaction_check",
    "remove_transaction_check",
]
