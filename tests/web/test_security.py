"""Access control and CSRF: loopback-only without credentials, basic auth and tokens, 403s."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from activejob_celery import ConfigurationError
from activejob_celery.web import Credentials, check_exposure, create_app, paused_queues
from activejob_celery.web.pages import routes
from tests.support.fixtures import make_app
from tests.support.redis_server import free_port
from tests.support.worker import wait_for
from tests.web.conftest import LOCAL, LOCAL_URL
from tests.web.support import csrf_of

REMOTE = ("203.0.113.7", 40123)
ROOT = Path(__file__).resolve().parents[2]


def basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}"}


def test_without_credentials_only_local_requests_are_served(aj_web_app):
    dashboard = create_app(aj_web_app)
    with TestClient(dashboard, client=REMOTE) as remote:
        refused = remote.get("/queues")
        assert refused.status_code == 403
        assert "answers requests from this machine only" in refused.text
        assert remote.post("/queues/pause", data={"queue": "default"}).status_code == 403
    with TestClient(dashboard, base_url=LOCAL_URL, client=LOCAL) as local:
        assert local.get("/queues").status_code == 200
        # A proxy on this machine relaying someone else's request is not a local request.
        proxied = local.get("/queues", headers={"x-forwarded-for": "198.51.100.4"})
        assert proxied.status_code == 403
        assert local.get("/", headers={"forwarded": "for=198.51.100.4"}).status_code == 403
        # Another site rebinding its name to 127.0.0.1 still sends its own Host: refused.
        assert local.get("/", headers={"host": "evil.example:5555"}).status_code == 403
        for host in ("localhost:5555", "127.0.0.1:5555", "[::1]:5555"):
            assert local.get("/", headers={"host": host}).status_code == 200, host


def test_credentials_are_asked_of_every_request(aj_web_app):
    dashboard = create_app(aj_web_app, username="ops", password="pa:ss", token="t0ken")
    with TestClient(dashboard, client=REMOTE) as client:
        missing = client.get("/")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith('Basic realm="activejob-celery"')
        assert client.get("/", headers=basic("ops", "wrong")).status_code == 401
        assert client.get("/", headers=basic("someone", "pa:ss")).status_code == 401
        assert client.get("/", headers={"authorization": "Bearer nope"}).status_code == 401
        assert client.get("/", headers={"authorization": "Basic !!!"}).status_code == 401
        assert client.get("/", headers=basic("ops", "pa:ss")).status_code == 200
        assert client.get("/", headers={"authorization": "Bearer t0ken"}).status_code == 200
        assert client.get("/", headers=basic("anyone", "t0ken")).status_code == 200


def test_credentials_come_from_settings(aj_redis):
    app = make_app(aj_redis.url, activejob_web_token="from-settings")
    with TestClient(create_app(app), client=REMOTE) as client:
        assert client.get("/").status_code == 401
        assert client.get("/", headers={"authorization": "Bearer from-settings"}).status_code == 200
    app.close()


def test_credentials_and_exposure_checks():
    with pytest.raises(ConfigurationError, match="go together"):
        Credentials(username="ops")
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        check_exposure(host, Credentials())
    for host in ("0.0.0.0", "::", "192.0.2.10", "dashboard.example.com"):
        with pytest.raises(ConfigurationError, match="without credentials"):
            check_exposure(host, Credentials())
        check_exposure(host, Credentials(token="t"))
        check_exposure(host, Credentials(username="ops", password="pw"))


def test_every_form_post_without_a_valid_csrf_token_is_rejected(aj_web_app, aj_web_client):
    posts = [route.path for route in routes() if "POST" in (route.methods or ())]
    assert len(posts) == 10  # + /blocked/release, /cancel
    token = csrf_of(aj_web_client.get("/queues").text)
    fields = {"queue": "default", "job_id": "x", "id": "x", "key": "x", "confirm": "yes"}
    for path in posts:
        assert aj_web_client.post(path, data=fields).status_code == 403, path
        wrong = aj_web_client.post(path, data={**fields, "csrf_token": token[:-2] + "xx"})
        assert wrong.status_code == 403, path
    # The right token with another browser's cookie (or a forged, unsigned one) fails too.
    with TestClient(create_app(aj_web_app), base_url=LOCAL_URL, client=LOCAL) as other:
        assert other.post("/queues/pause", data={**fields, "csrf_token": token}).status_code == 403
        other.cookies.set("aj_csrf", token)
        assert other.post("/queues/pause", data={**fields, "csrf_token": token}).status_code == 403
    assert paused_queues(aj_web_app) == {}
    ok = aj_web_client.post("/queues/pause", data={**fields, "csrf_token": token})
    assert ok.status_code == 200  # followed the 303 back to the queues page
    assert set(paused_queues(aj_web_app)) == {"default"}


def _cli(aj_redis, port: int, host: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.web.cli_app", "jobs", "web",
         "--host", host, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, "AJ_WEB_REDIS_URL": aj_redis.url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def test_cli_refuses_a_public_address_without_credentials(aj_redis):
    port = free_port()
    process = _cli(aj_redis, port, "0.0.0.0")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"refusing to serve the jobs dashboard on 0.0.0.0" in stderr
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_cli_on_a_public_address_with_a_token_refuses_anonymous_requests(aj_redis):
    port = free_port()
    process = _cli(aj_redis, port, "0.0.0.0", AJ_WEB_TOKEN="cli-token")
    try:

        def answers() -> httpx2.Response | None:
            try:
                return httpx2.get(f"http://127.0.0.1:{port}/queues", timeout=2)
            except httpx2.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                return None

        anonymous = wait_for(answers, timeout=30, interval=0.1, message="jobs web to listen")
        assert anonymous.status_code == 401
        authorised = httpx2.get(
            f"http://127.0.0.1:{port}/queues", headers={"authorization": "Bearer cli-token"}
        )
        assert authorised.status_code == 200 and "<h1>Queues</h1>" in authorised.text
    finally:
        process.terminate()
        process.communicate(timeout=30)
