"""How a project wires the job test helpers into its tests.

In a project's top-level conftest.py one line is enough:

    pytest_plugins = ["activejob_celery.testing.pytest_plugin"]

pytest refuses ``pytest_plugins`` in a nested conftest.py such as this one, so here the plugin's
fixtures are imported instead, which registers them for this folder only. The autouse fixture
then puts every test on a fresh test adapter, as Rails' ActiveJob::TestCase does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activejob_celery import add_locator
from activejob_celery.global_id import remove_locator
from activejob_celery.testing import TestAdapter
from activejob_celery.testing.pytest_plugin import activejob, activejob_adapter  # noqa: F401
from tests.user_style.shop import Mail, User, Users, deliveries as sent_mail


@pytest.fixture(autouse=True)
def jobs_use_the_test_adapter(activejob_adapter: TestAdapter) -> TestAdapter:  # noqa: F811
    return activejob_adapter


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    Users.rows.clear()
    sent_mail.clear()
    add_locator("shop", Users.locate)
    yield
    remove_locator("shop")


@pytest.fixture
def users() -> dict[str, User]:
    """Rails' ``users(:david)`` fixtures."""
    return {
        "david": Users.create("David", "david@example.com"),
        "jeremy": Users.create("Jeremy", "jeremy@example.com"),
    }


@pytest.fixture
def deliveries() -> list[Mail]:
    """Rails' ``ActionMailer::Base.deliveries``."""
    return sent_mail
