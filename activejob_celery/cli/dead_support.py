"""Pieces shared by the ``jobs dead`` commands: options, id prefixes, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from ..dead_letters.binding import store_for
from ..dead_letters.filters import parse_when
from ..dead_letters.record import DeadLetterNotFoundError
from ..dead_letters.store import DeadLetterStore, Progress
from ..errors import ConfigurationError
from ..failures import REASONS
from .context import app_from

F = TypeVar("F", bound=Callable[..., Any])


class When(click.ParamType):  # type: ignore[type-arg]  # generic in recent click
    """A duration back from now (``2h``, ``7d``) or an ISO 8601 time."""

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse with :func:`~activejob_celery.dead_letters.filters.parse_when`."""
        if not isinstance(value, str):
            return value
        try:
            return parse_when(value)
        except ConfigurationError as error:
            self.fail(str(error), param, ctx)


def when_option(name: str, **kwargs: Any) -> Callable[[F], F]:
    """A ``--since`` / ``--older-than`` style option.

    Example:
        >>> @when_option("--since", help="Only entries newer than this.")  # doctest: +SKIP
        ... def command(since): ...
    """
    return click.option(name, type=When(), default=None, metavar="WHEN", **kwargs)


def filter_options(command: F) -> F:
    """Add the list filters: ``--class``, ``--queue``, ``--error``, ``--reason``, ``--since``.

    Example:
        >>> @filter_options                                   # doctest: +SKIP
        ... def command(job_class, queue_name, error_class, reason, since): ...
    """
    options = [
        click.option("--class", "job_class", help="Job class: job_name or bare class name."),
        click.option("--queue", "queue_name", help="Queue name."),
        click.option("--error", "error_class", help="Error class, full or bare name."),
        click.option("--reason", type=click.Choice(REASONS), help="Why the job failed."),
        when_option("--since", help="Failed at or after this (2h, 7d, or an ISO time)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def store_of(ctx: click.Context) -> DeadLetterStore:
    """The dead-letter store of the app given with ``celery -A``."""
    try:
        return store_for(app_from(ctx))
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


def resolve_ids(store: DeadLetterStore, given: list[str]) -> list[str]:
    """Full ids for ids or unique prefixes, in order, without repeats."""
    found: list[str] = []
    for text in given:
        try:
            letter_id = store.resolve(text)
        except DeadLetterNotFoundError as error:
            raise click.ClickException(str(error)) from None
        if letter_id not in found:
            found.append(letter_id)
    return found


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Progress]:
    """A progress bar on stderr for bulk work (more than one entry); yields its ``update``.

    Example:
        >>> with progress_bar(len(ids), "Retrying") as progress:   # doctest: +SKIP
        ...     store.retry_many(ids, progress=progress)
    """
    if total <= 1:
        yield lambda done: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update
