"""contrib.sqlalchemy on SQLite and PostgreSQL with a real in-process worker."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from activejob_celery import ApplicationJob, DeserializationError, SerializationError
from activejob_celery.arguments import deserialize_arguments
from activejob_celery.contrib.sqlalchemy import install
from tests.contrib.sa_models import Base, LineItem, Order
from tests.support.fixtures import JobBuffer
from tests.support.worker import run_worker, wait_for

buffer = JobBuffer()
ITEM = "tests.contrib.sa_models.LineItem"


class ShipJob(ApplicationJob):
    enqueue_after_transaction_commit = True

    def perform(self, item: LineItem) -> None:
        buffer.add((item.order_id, item.code, item.quantity))


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(
    request: pytest.FixtureRequest, tmp_path: Path, aj_app: Celery
) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.sqlite3'}")
    else:
        engine = sa.create_engine(request.getfixturevalue("postgres").url())
    Base.metadata.create_all(engine)
    made = sessionmaker(engine, expire_on_commit=False)
    locator = install(made, app=aj_app, gid_app="db")
    buffer.clear()
    yield made
    locator.close()  # this thread's locating session (a worker closes its own after each task)
    Base.metadata.drop_all(engine)
    engine.dispose()


def published(publishes: list[dict[str, Any]]) -> list[str]:
    return [headers["id"] for headers in publishes]


def test_a_composite_key_travels_as_a_global_id(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        item = LineItem(order_id=1, code="a b/c", quantity=3)
        session.add(item)
    arguments = ShipJob(item).serialize()["arguments"]
    assert arguments == [{"_aj_globalid": f"gid://db/{ITEM}/1/a%20b%2Fc"}]
    (located,), _ = deserialize_arguments(arguments)
    assert (located.order_id, located.code, located.quantity) == (1, "a b/c", 3)


def test_an_object_without_its_key_cannot_be_serialized(factory: sessionmaker[Session]) -> None:
    with pytest.raises(SerializationError, match="without an id"):
        ShipJob(Order(name="new")).serialize()


def test_many_objects_are_located_with_one_query_per_class(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        items = [LineItem(order_id=i % 3, code=f"c{i}") for i in range(40)]
        orders = [Order(id=i, name=f"o{i}") for i in range(1, 6)]
        session.add_all(items + orders)
    mixed: list[Any] = list(reversed(items)) + orders
    arguments = ShipJob(mixed).serialize()["arguments"]
    statements: list[str] = []
    engine = factory.kw["bind"]
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    (located,), _ = deserialize_arguments(arguments)
    assert [sa.inspect(obj).identity for obj in located] == [
        sa.inspect(obj).identity for obj in mixed
    ]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2


def test_published_after_commit_and_the_worker_sees_the_row(
    factory: sessionmaker[Session], aj_app: Celery, aj_publishes: list[dict[str, Any]]
) -> None:
    with run_worker(aj_app):
        with factory.begin() as session:
            item = LineItem(order_id=7, code="x y", quantity=2)
            session.add(item)
            session.flush()
            job = ShipJob.perform_later(item)
            assert job and job.successfully_enqueued and job.provider_job_id
            assert aj_publishes == []
        assert published(aj_publishes) == [job.provider_job_id]
        wait_for(lambda: buffer.values, timeout=30)
    assert buffer.values == [(7, "x y", 2)]


def test_a_rollback_publishes_nothing(
    factory: sessionmaker[Session], aj_publishes: list[dict[str, Any]]
) -> None:
    with pytest.raises(RuntimeError), factory.begin() as session:
        item = LineItem(order_id=1, code="never")
        session.add(item)
        session.flush()
        ShipJob.perform_later(item)
        raise RuntimeError("rolled back")
    assert aj_publishes == []


def test_a_released_savepoint_waits_for_the_outer_commit_and_dies_with_its_rollback(
    factory: sessionmaker[Session], aj_publishes: list[dict[str, Any]]
) -> None:
    with factory() as session, session.begin():
        with session.begin_nested():  # after_commit fires here: nothing may be published
            item = LineItem(order_id=1, code="nested")
            session.add(item)
            session.flush()
            ShipJob.perform_later(item)
        assert aj_publishes == []
        session.rollback()
    assert aj_publishes == []


def test_a_rolled_back_savepoint_drops_only_its_own_jobs(
    factory: sessionmaker[Session], aj_publishes: list[dict[str, Any]]
) -> None:
    with factory() as session, session.begin():
        outer = LineItem(order_id=1, code="outer")
        session.add(outer)
        session.flush()
        kept = ShipJob.perform_later(outer)
        savepoint = session.begin_nested()
        inner = LineItem(order_id=1, code="inner")
        session.add(inner)
        session.flush()
        ShipJob.perform_later(inner)
        savepoint.rollback()
        with session.begin_nested():
            released = ShipJob.perform_later(outer)
        assert aj_publishes == []
    assert kept and released
    assert published(aj_publishes) == [kept.provider_job_id, released.provider_job_id]


def test_outside_a_transaction_the_job_is_published_at_once(
    factory: sessionmaker[Session], aj_publishes: list[dict[str, Any]]
) -> None:
    with factory.begin() as session:
        item = LineItem(order_id=2, code="now")
        session.add(item)
    job = ShipJob.perform_later(item)
    assert job and published(aj_publishes) == [job.provider_job_id]


def test_a_session_dropped_without_close_does_not_keep_later_jobs(
    factory: sessionmaker[Session], aj_publishes: list[dict[str, Any]]
) -> None:
    with factory.begin() as session:
        item = LineItem(order_id=3, code="later")
        session.add(item)
    abandoned = factory()
    abandoned.execute(sa.text("SELECT 1"))  # autobegins a transaction that is never ended
    del abandoned
    gc.collect()
    job = ShipJob.perform_later(item)
    assert job and published(aj_publishes) == [job.provider_job_id]


def test_a_deleted_row_is_a_deserialization_error_naming_the_global_id(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as session:
        order = Order(id=9, name="gone")
        session.add(order)
    arguments = ShipJob(order).serialize()["arguments"]
    with factory.begin() as session:
        session.execute(sa.delete(Order))
    with pytest.raises(DeserializationError, match=r"gid://db/tests\.contrib\.sa_models\.Order/9"):
        deserialize_arguments(arguments)
