"""A continuable job's checkpoint inside Django's ``transaction.atomic()`` raises CheckpointError.

Rails' ``activerecord/test/activejob/job_checkpoints_test.rb``: a checkpoint while a transaction
is open fails; after it closes, the same checkpoint is fine.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db import transaction

from activejob_celery import ApplicationJob, CheckpointError, Continuable
from activejob_celery.testing import restore_adapters, use_test_adapter

pytestmark = pytest.mark.django_db(transaction=True)


class CheckpointInTransactionJob(Continuable, ApplicationJob):
    in_transaction: ClassVar[bool] = True
    reached: ClassVar[list[str]] = []

    def perform(self) -> None:
        @self.step("one")
        def _(step: Any) -> None:
            if self.in_transaction:
                with transaction.atomic():
                    step.checkpoint()
            else:
                with transaction.atomic():
                    pass
                step.checkpoint()
            self.reached.append("after checkpoint")


@pytest.fixture(autouse=True)
def _test_adapter() -> Any:
    yield use_test_adapter()
    restore_adapters()


def test_a_checkpoint_inside_atomic_raises() -> None:
    CheckpointInTransactionJob.in_transaction, CheckpointInTransactionJob.reached = True, []
    with pytest.raises(CheckpointError, match=r"^Cannot checkpoint job with open transactions$"):
        CheckpointInTransactionJob.perform_now()
    assert CheckpointInTransactionJob.reached == []


def test_a_checkpoint_after_the_transaction_closed_is_fine() -> None:
    CheckpointInTransactionJob.in_transaction, CheckpointInTransactionJob.reached = False, []
    CheckpointInTransactionJob.perform_now()
    assert CheckpointInTransactionJob.reached == ["after checkpoint"]
