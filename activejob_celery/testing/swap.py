"""Swapping job classes onto a fresh test adapter for a test, and back (Rails TestQueueAdapter)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import adapters
from ..adapters.testing import TestAdapter
from ..base import ApplicationJob
from ..config import current_settings
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..adapters.base import QueueAdapter
    from ..base import ApplicationJob


@dataclass(frozen=True)
class _Swap:
    adapter: TestAdapter
    every_class: bool
    keep: tuple[type[ApplicationJob], ...]
    previous: Callable[[type[ApplicationJob]], QueueAdapter | None] | None

    def adapter_for(self, job_class: type[ApplicationJob]) -> QueueAdapter | None:
        if self.keep and issubclass(job_class, self.keep):
            return None
        chosen = job_class.queue_adapter
        if self.every_class or chosen is None or isinstance(chosen, str):
            return self.adapter
        # An adapter object set on the class was chosen deliberately: Rails 7.2+ keeps it too.
        return None


_swaps: list[_Swap] = []


def use_test_adapter(
    adapter: TestAdapter | None = None,
    *,
    every_class: bool = False,
    keep: Iterable[type[ApplicationJob]] = (),
) -> TestAdapter:
    """Send every job class to a fresh :class:`TestAdapter` until :func:`restore_adapters`.

    Swapped are the classes whose ``queue_adapter`` is None (they follow
    ``activejob_queue_adapter``) or a name (``"celery"``, ``"inline"``, ``"test"``), including
    classes defined later. A class whose ``queue_adapter`` is an adapter object keeps it, as
    Rails keeps explicitly set adapters, unless ``every_class=True`` (Rails'
    ``queue_adapter_for_test``). ``keep`` lists classes (and their subclasses) to leave alone
    (Rails' ``disable_test_adapter``). Swaps nest: each call is undone by one restore.

    Args:
        adapter: the adapter to use; a new ``TestAdapter`` by default.
        every_class: swap classes with an adapter object too.
        keep: job classes that keep their own adapter.

    Returns:
        The test adapter now in use; the assertion helpers read it.

    Example:
        >>> adapter = use_test_adapter()
        >>> GuestsCleanupJob.perform_later(42)                 # doctest: +SKIP
        >>> len(adapter.enqueued_jobs)                         # doctest: +SKIP
        1
        >>> restore_adapters()
    """
    chosen = adapter if adapter is not None else TestAdapter()
    swap = _Swap(chosen, every_class, tuple(keep), adapters.override)
    _swaps.append(swap)
    adapters.override = swap.adapter_for
    return swap.adapter


def restore_adapters() -> None:
    """Undo the latest :func:`use_test_adapter`; does nothing when no swap is in force.

    Example:
        >>> _ = use_test_adapter()
        >>> restore_adapters()
    """
    if _swaps:
        adapters.override = _swaps.pop().previous


def queue_adapter() -> QueueAdapter:
    """The adapter the helpers use: the swapped-in test adapter, else the default one.

    Example:
        >>> _ = use_test_adapter()
        >>> queue_adapter().display_name
        'Test'
        >>> restore_adapters()
    """
    if _swaps:
        return _swaps[-1].adapter

    return adapters.adapter_for(ApplicationJob)


def using_test_adapter() -> bool:
    """Whether the helpers have a test adapter to read (Rails ``using_test_adapter?``).

    Example:
        >>> using_test_adapter()                               # doctest: +SKIP
        False
    """
    try:
        return isinstance(queue_adapter(), TestAdapter)
    except ConfigurationError:
        return False


def require_test_adapter(method: str) -> TestAdapter:
    """The test adapter, or a ConfigurationError naming ``method`` and how to set one up.

    Example:
        >>> require_test_adapter("assert_enqueued_jobs")       # doctest: +SKIP
    """
    try:
        adapter = queue_adapter()
    except ConfigurationError:
        using = f"the {current_settings().queue_adapter!r} adapter, which is not set up"
    else:
        if isinstance(adapter, TestAdapter):
            return adapter
        using = type(adapter).__name__
    raise ConfigurationError(
        f"{method} requires the Active Job test adapter, you're using {using}. Request the "
        "activejob_adapter fixture (pytest_plugins = ['activejob_celery.testing.pytest_plugin']), "
        "subclass ActiveJobTestCase, or call activejob_celery.testing.use_test_adapter() first."
    )
