"""The helpers as methods: ``TestHelper`` (pytest's ``activejob`` fixture) and unittest classes."""

from __future__ import annotations

import unittest
from typing import Any, ClassVar

from ..adapters.testing import TestAdapter
from . import assertions, matching, perform, swap


class TestHelper:
    """Rails' ``ActiveJob::TestHelper`` as an object: every helper is a method.

    The pytest fixture ``activejob`` returns one; :class:`ActiveJobTestMixin` makes the same
    methods available on ``self``. The methods are the module functions, so they read the test
    adapter in use (see :func:`use_test_adapter`).

    Example:
        >>> def test_enqueues(activejob):                      # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "test")
        ...     activejob.assert_enqueued_with(job=NotificationJob, args=[user, "test"])
    """

    __test__: ClassVar[bool] = False  # a helper, not a test class

    assert_enqueued_jobs = staticmethod(assertions.assert_enqueued_jobs)
    assert_no_enqueued_jobs = staticmethod(assertions.assert_no_enqueued_jobs)
    assert_performed_jobs = staticmethod(assertions.assert_performed_jobs)
    assert_no_performed_jobs = staticmethod(assertions.assert_no_performed_jobs)
    assert_enqueued_with = staticmethod(matching.assert_enqueued_with)
    assert_performed_with = staticmethod(matching.assert_performed_with)
    perform_enqueued_jobs = staticmethod(perform.perform_enqueued_jobs)
    performing_enqueued_jobs = staticmethod(perform.performing_enqueued_jobs)
    expect_enqueued_jobs = staticmethod(assertions.expect_enqueued_jobs)
    expect_no_enqueued_jobs = staticmethod(assertions.expect_no_enqueued_jobs)
    expect_performed_jobs = staticmethod(assertions.expect_performed_jobs)
    expect_no_performed_jobs = staticmethod(assertions.expect_no_performed_jobs)
    expect_enqueued_with = staticmethod(matching.expect_enqueued_with)
    expect_performed_with = staticmethod(matching.expect_performed_with)
    enqueued_jobs = staticmethod(perform.enqueued_jobs)
    performed_jobs = staticmethod(perform.performed_jobs)
    clear_enqueued_jobs = staticmethod(perform.clear_enqueued_jobs)
    clear_performed_jobs = staticmethod(perform.clear_performed_jobs)
    queue_adapter = staticmethod(swap.queue_adapter)


class ActiveJobTestMixin(TestHelper):
    """A ``unittest.TestCase`` mixin: a fresh test adapter for each test, and the helpers.

    The swap wraps the whole test (``setUp``, the test, ``tearDown`` and cleanups), so it
    holds even when a ``setUp`` does not call ``super().setUp()``. Override
    :meth:`queue_adapter_for_test` to choose the adapter (Rails' method of that name); set
    ``keep_adapters`` to job classes that keep their own adapter.

    Example:
        >>> class NotificationJobTest(ActiveJobTestMixin, django.test.TestCase):   # doctest: +SKIP
        ...     def test_enqueues(self):
        ...         self.assert_enqueued_jobs(1, block=lambda: NotificationJob.perform_later(1))
    """

    __test__: ClassVar[bool] = True  # subclasses are test classes again
    keep_adapters: ClassVar[tuple[type[Any], ...]] = ()
    """Job classes (with their subclasses) left on their own adapter."""

    def queue_adapter_for_test(self) -> TestAdapter | None:
        """The adapter every job class uses in this test; None means a fresh ``TestAdapter``.

        Returning an adapter swaps the classes with an adapter object of their own too, as in
        Rails.

        Example:
            >>> class MyTest(ActiveJobTestCase):               # doctest: +SKIP
            ...     def queue_adapter_for_test(self):
            ...         return RecordingAdapter()
        """
        return None

    def run(self, result: Any = None) -> Any:
        """Run the test with the test adapter swapped in, and swapped out afterwards.

        Example:
            >>> NotificationJobTest("test_enqueues_job").run()   # doctest: +SKIP
        """
        chosen = self.queue_adapter_for_test()
        swap.use_test_adapter(chosen, every_class=chosen is not None, keep=self.keep_adapters)
        try:
            return super().run(result)  # type: ignore[misc]
        finally:
            swap.restore_adapters()

    def debug(self) -> None:
        """Run the test without collecting the result (``unittest``'s debug mode), swapped too.

        Example:
            >>> NotificationJobTest("test_enqueues_job").debug()   # doctest: +SKIP
        """
        chosen = self.queue_adapter_for_test()
        swap.use_test_adapter(chosen, every_class=chosen is not None, keep=self.keep_adapters)
        try:
            super().debug()  # type: ignore[misc]
        finally:
            swap.restore_adapters()


class ActiveJobTestCase(ActiveJobTestMixin, unittest.TestCase):
    """``unittest.TestCase`` with the Active Job helpers, Rails' ``ActiveJob::TestCase``.

    Example:
        >>> class NotificationJobTest(ActiveJobTestCase):      # doctest: +SKIP
        ...     def test_enqueues_job(self):
        ...         self.assert_enqueued_with(
        ...             job=NotificationJob, args=[david, "test"],
        ...             block=lambda: NotificationJob.perform_later(david, "test"),
        ...         )
    """
