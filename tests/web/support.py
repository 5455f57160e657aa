"""Helpers for the dashboard tests: a CSRF token from a page, and uvicorn in a thread."""

from __future__ import annotations

import contextlib
import html
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from tests.support.worker import wait_for

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token in a rendered page's forms."""
    match = CSRF.search(page)
    assert match, "no CSRF field on the page"
    return html.unescape(match.group(1))


@contextlib.contextmanager
def serve_in_thread(asgi_app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``asgi_app`` with uvicorn on a free port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi_app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=15, message="uvicorn to start")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
