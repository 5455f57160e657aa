"""Testing support: a test adapter and Rails' TestHelper as functions, fixtures, unittest classes.

Example:
    >>> from activejob_celery.testing import assert_enqueued_with, use_test_adapter
    >>> adapter = use_test_adapter()
    >>> NotificationJob.perform_later(user, "test")            # doctest: +SKIP
    >>> assert_enqueued_with(job=NotificationJob, args=[user, "test"])   # doctest: +SKIP
"""

from __future__ import annotations

from ..adapters.testing import TestAdapter
from .assertions import (
    assert_enqueued_jobs,
    assert_no_enqueued_jobs,
    assert_no_performed_jobs,
    assert_performed_jobs,
    expect_enqueued_jobs,
    expect_no_enqueued_jobs,
    expect_no_performed_jobs,
    expect_performed_jobs,
)
from .continuations import interrupt_job_after_step, interrupt_job_during_step
from .matching import (
    JobMatch,
    assert_enqueued_with,
    assert_performed_with,
    expect_enqueued_with,
    expect_performed_with,
)
from .perform import (
    clear_enqueued_jobs,
    clear_performed_jobs,
    enqueued_jobs,
    perform_enqueued_jobs,
    performed_jobs,
    performing_enqueued_jobs,
)
from .swap import queue_adapter, restore_adapters, use_test_adapter, using_test_adapter
from .testcase import ActiveJobTestCase, ActiveJobTestMixin, TestHelper

__all__ = [
    # Adapter and setup
    "TestAdapter",
    "use_test_adapter",
    "restore_adapters",
    "queue_adapter",
    "using_test_adapter",
    # Rails TestHelper (Rails' block is the keyword block=)
    "assert_enqueued_jobs",
    "assert_no_enqueued_jobs",
    "assert_performed_jobs",
    "assert_no_performed_jobs",
    "assert_enqueued_with",
    "assert_performed_with",
    "perform_enqueued_jobs",
    "enqueued_jobs",
    "performed_jobs",
    "clear_enqueued_jobs",
    "clear_performed_jobs",
    # with forms
    "performing_enqueued_jobs",
    "expect_enqueued_jobs",
    "expect_no_enqueued_jobs",
    "expect_performed_jobs",
    "expect_no_performed_jobs",
    "expect_enqueued_with",
    "expect_performed_with",
    "JobMatch",
    # Continuations (Rails Continuation::TestHelper)
    "interrupt_job_during_step",
    "interrupt_job_after_step",
    # unittest
    "TestHelper",
    "ActiveJobTestMixin",
    "ActiveJobTestCase",
]
