"""The dashboard inside another app: mounted under a prefix in ASGI, and in WSGI through a2wsgi."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx2
from a2wsgi import ASGIMiddleware
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from activejob_celery.web import create_app, paused_queues
from tests.web.conftest import LOCAL, LOCAL_URL
from tests.web.support import csrf_of


def test_mounted_under_a_prefix_in_an_asgi_app(aj_web_app):
    outer = Starlette(routes=[Mount("/ops/jobs", app=create_app(aj_web_app))])
    with TestClient(outer, base_url=LOCAL_URL, client=LOCAL) as client:
        page = client.get("/ops/jobs/queues")
        assert page.status_code == 200
        assert 'href="/ops/jobs/dead"' in page.text
        assert 'action="/ops/jobs/queues/pause"' in page.text
        assert "Path=/ops/jobs" in page.headers["set-cookie"]
        response = client.post(
            "/ops/jobs/queues/pause",
            data={"csrf_token": csrf_of(page.text), "queue": "web_paused"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/ops/jobs/queues"
        assert "Paused web_paused" in client.get("/ops/jobs/queues").text
    assert set(paused_queues(aj_web_app)) == {"web_paused"}


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def wsgi_server(app) -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_served_by_a_wsgi_server_under_a_prefix(aj_web_app):
    # wsgiref passes no REMOTE_PORT, so a2wsgi gives no client address: without credentials
    # the dashboard could not tell a local request, and refuses. A token it is.
    dashboard = ASGIMiddleware(create_app(aj_web_app, token="wsgi-token"))

    def site(environ, start_response):  # a WSGI app with the dashboard at /jobs
        path = environ.get("PATH_INFO", "")
        if path == "/jobs" or path.startswith("/jobs/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/jobs"
            environ["PATH_INFO"] = path[len("/jobs") :] or "/"
            return dashboard(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"the rest of the site"]

    auth = {"authorization": "Bearer wsgi-token"}
    with wsgi_server(site) as base, httpx2.Client(base_url=base, headers=auth) as client:
        assert httpx2.get(f"{base}/jobs/queues").status_code == 401
        page = client.get("/jobs/queues")
        assert page.status_code == 200
        assert 'action="/jobs/queues/pause"' in page.text
        response = client.post(
            "/jobs/queues/pause", data={"csrf_token": csrf_of(page.text), "queue": "web_other"}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/jobs/queues"
        assert "Paused web_other" in client.get("/jobs/queues").text
        assert client.get("/elsewhere").text == "the rest of the site"
    assert set(paused_queues(aj_web_app)) == {"web_other"}
