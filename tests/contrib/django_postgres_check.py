"""Run by test_django_postgres.py in its own process: Django on PostgreSQL (DSN parts in argv).

Django's settings are set once per process, so the PostgreSQL cases run here, against the
server the test started; the script prints ``ok`` when every case held.
"""

from __future__ import annotations

import sys

from tests.contrib.shop_settings import configure_shop

host, port, user, name = sys.argv[1:5]
configure_shop(
    {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": host,
        "PORT": port,
        "USER": user,
        "NAME": name,
    }
)

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from activejob_celery import ApplicationJob  # noqa: E402
from activejob_celery.arguments import deserialize_arguments  # noqa: E402
from activejob_celery.testing import clear_enqueued_jobs, enqueued_jobs, use_test_adapter  # noqa: E402
from tests.contrib.shop.models import Customer  # noqa: E402


class WelcomeJob(ApplicationJob):
    enqueue_after_transaction_commit = True

    def perform(self, customer: Customer) -> None:
        pass


def names() -> list[str]:
    return [record["args"][0].name for record in enqueued_jobs()]


def main() -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)
    use_test_adapter()
    user = User.objects.create(username="ada")
    (located,), _ = deserialize_arguments(WelcomeJob(user).serialize()["arguments"])
    assert located == user, located

    with transaction.atomic():
        WelcomeJob.perform_later(Customer.objects.create(name="committed"))
        assert names() == [], names()
    assert names() == ["committed"], names()
    clear_enqueued_jobs()

    try:
        with transaction.atomic():
            WelcomeJob.perform_later(Customer.objects.create(name="rolled back"))
            raise RuntimeError
    except RuntimeError:
        pass
    assert names() == [], names()

    with transaction.atomic():
        WelcomeJob.perform_later(Customer.objects.create(name="outer"))
        try:
            with transaction.atomic():
                WelcomeJob.perform_later(Customer.objects.create(name="inner"))
                raise RuntimeError
        except RuntimeError:
            pass
    assert names() == ["outer"], names()
    print("ok")


if __name__ == "__main__":
    main()
