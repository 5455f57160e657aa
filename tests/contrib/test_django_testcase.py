"""Django's own test cases: TestCase with captureOnCommitCallbacks, and TransactionTestCase."""

from __future__ import annotations

from django.test import TestCase, TransactionTestCase

from activejob_celery import ApplicationJob
from activejob_celery.testing import enqueued_jobs, restore_adapters, use_test_adapter
from tests.contrib.shop.models import Customer


class WelcomeJob(ApplicationJob):
    enqueue_after_transaction_commit = True

    def perform(self, customer: Customer) -> None:
        pass


class InTestCase(TestCase):
    def setUp(self) -> None:
        use_test_adapter()
        self.addCleanup(restore_adapters)

    def test_enqueued_when_the_captured_callbacks_run(self) -> None:
        customer = Customer.objects.create(name="Ada")
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            job = WelcomeJob.perform_later(customer)
            assert job and job.provider_job_id
            self.assertEqual(enqueued_jobs(), [])
        self.assertEqual(len(callbacks), 1)
        [record] = enqueued_jobs()
        self.assertEqual(record["job"], WelcomeJob)
        self.assertEqual(record["args"], [customer])


class InTransactionTestCase(TransactionTestCase):
    def setUp(self) -> None:
        use_test_adapter()
        self.addCleanup(restore_adapters)

    def test_autocommit_enqueues_at_once(self) -> None:
        WelcomeJob.perform_later(Customer.objects.create(name="Bo"))
        self.assertEqual(len(enqueued_jobs()), 1)
