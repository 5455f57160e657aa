"""``python manage.py test``: no broker needed (the test adapter records jobs)."""

from django.test import TestCase

from activejob_celery.testing import (
    enqueued_jobs,
    perform_enqueued_jobs,
    restore_adapters,
    use_test_adapter,
)

from .jobs import ConfirmOrderJob, OrderReportJob
from .models import Order


class OrderTests(TestCase):
    def setUp(self) -> None:
        use_test_adapter()
        self.addCleanup(restore_adapters)

    def test_the_view_enqueues_the_confirmation_when_the_transaction_commits(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post("/orders/?item=lamp")
            self.assertEqual(enqueued_jobs(), [])  # TestCase never commits: still waiting
        order = Order.objects.get(pk=response.json()["order"])
        [record] = enqueued_jobs()
        self.assertEqual((record["job"], record["args"]), (ConfirmOrderJob, [order]))

    def test_the_job_confirms_the_order(self) -> None:
        order = Order.objects.create(item="chair")
        with self.captureOnCommitCallbacks(execute=True):
            ConfirmOrderJob.perform_later(order)
        perform_enqueued_jobs()  # runs it: the order is fetched again by its GlobalID
        order.refresh_from_db()
        self.assertTrue(order.confirmed)

    def test_the_report_runs(self) -> None:
        OrderReportJob.perform_now()
