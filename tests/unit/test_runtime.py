"""The runtime of an app: made once, replaced and closed by a second init_app; shared clients."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from activejob_celery import runtime
from activejob_celery.config import Settings
from activejob_celery.errors import ConfigurationError
from activejob_celery.redis_clients import CLIENT_NAME, SHARED_RETRIES, Clients

URL = "redis://127.0.0.1:1/0"  # never connected to: clients connect on first command


def _app() -> Celery:
    return Celery("unit_runtime", broker=URL, set_as_current=False)


def test_one_client_per_url_with_the_shared_options() -> None:
    clients = Clients(_app())
    first = clients.get(URL)
    assert clients.get(URL) is first
    assert clients.get("redis://127.0.0.1:1/1") is not first
    assert clients.owns(first) and not clients.owns(object())
    options = first.connection_pool.connection_kwargs
    assert options["client_name"] == CLIENT_NAME
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (2.0, 5.0)
    assert first.get_retry().get_retries() == SHARED_RETRIES
    clients.close()
    assert clients.get(URL) is not first


def test_runtime_for_makes_one_runtime_that_init_app_has_not_marked() -> None:
    app = _app()
    assert runtime.find_runtime(app) is None
    found = runtime.runtime_for(app)
    assert runtime.runtime_for(app) is found
    assert not found.initialised and not runtime.is_initialised(app)
    assert app not in runtime.initialised_apps()


def test_install_replaces_the_runtime_and_closes_the_old_one() -> None:
    app = _app()
    closed: list[str] = []

    class Part:
        def close(self) -> None:
            closed.append("part")

    first = runtime.install(app, Settings())
    first.part("thing", Part)
    client = first.clients.get(URL)
    second = runtime.install(app, Settings())
    assert runtime.runtime_for(app) is second and second is not first
    assert closed == ["part"] and first.parts == {}
    assert not first.clients.owns(client)
    assert runtime.is_initialised(app) and app in runtime.initialised_apps()


def test_a_part_is_built_once_and_a_failing_close_does_not_stop_the_others() -> None:
    app = _app()
    built: list[int] = []
    closed: list[str] = []

    class Broken:
        def close(self) -> None:
            raise RuntimeError("cannot close")

    class Fine:
        def close(self) -> None:
            closed.append("fine")

    found: Any = runtime.runtime_for(app)
    assert found.part("n", lambda: built.append(1) or len(built)) == 1
    assert found.part("n", lambda: built.append(1) or len(built)) == 1
    found.part("broken", Broken)
    found.part("fine", Fine)
    found.close()
    assert closed == ["fine"]
    assert runtime.part_of(app, "n") is None


def test_a_second_init_app_drops_the_per_app_state_of_the_parts() -> None:
    from activejob_celery import parts_off, queue_priority, routing, worker_checks

    app = _app()
    runtime.install(app, Settings())
    parts_off.part_off(app, parts_off.SCHEDULED_SET, "set activejob_scheduler_url")
    conf = routing.RoutingConf.of(app)
    queue_priority.celery_priority(3, app, "default")
    worker_checks.check_at_start(app)
    held = set(runtime.runtime_for(app).parts)
    assert {"parts_off", "routing.conf", "queue_priority.plan", "worker_checks.checked"} <= held
    runtime.install(app, Settings())
    assert parts_off.parts_off(app) == {}
    assert routing.RoutingConf.of(app) is not conf
    assert "queue_priority.plan" not in runtime.runtime_for(app).parts


def test_runtime_for_reads_the_settings_only_when_asked() -> None:
    app = _app()
    app.conf.activejob_queue_adapter = "no-such-adapter"
    found = runtime.runtime_for(app)  # no error yet: nothing asked for the settings
    with pytest.raises(ConfigurationError, match="activejob_queue_adapter"):
        _ = found.settings
