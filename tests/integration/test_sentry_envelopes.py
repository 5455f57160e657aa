"""A loopback HTTP endpoint standing in for Sentry, and the envelope parsing the Sentry tests use.

``SentryEndpoint`` is a real HTTP server on 127.0.0.1; sentry-sdk sends to it through its normal
transport (a DSN ``http://key@127.0.0.1:PORT/1``). ``sentry_session`` initialises sentry-sdk with
that DSN and the integration installed, and afterwards closes the client, so no client, scope
data or reporter leaks into later tests. The tests at the bottom check the helper itself.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sentry_sdk

from activejob_celery.integrations import sentry as sentry_integration


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Split a Sentry envelope into its header and ``(item header, payload)`` pairs."""
    header_line, _, rest = body.partition(b"\n")
    header = json.loads(header_line)
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        items.append((item_header, payload))
    return header, items


class SentryEndpoint:
    """Keeps every envelope POSTed to it; ``events()`` returns the error events among them."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with endpoint._lock:
                    endpoint.paths.append(self.path)
                    endpoint.envelopes.append(parse_envelope(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server.server_address[1]}/1"

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            envelopes = list(self.envelopes)
        return [
            json.loads(payload)
            for _, items in envelopes
            for item_header, payload in items
            if item_header.get("type") == "event"
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def sentry_session(endpoint: SentryEndpoint, **options: Any) -> Iterator[None]:
    """``sentry_sdk.init`` pointed at ``endpoint`` with the integration installed, then closed."""
    options.setdefault("shutdown_timeout", 2)
    sentry_sdk.init(dsn=endpoint.dsn, **options)
    sentry_integration.install()
    try:
        yield
    finally:
        sentry_integration.uninstall()
        client = sentry_sdk.get_client()
        client.flush(timeout=5)
        client.close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)
        sentry_sdk.get_isolation_scope().clear()
        sentry_sdk.get_current_scope().clear()


def flushed_events(endpoint: SentryEndpoint) -> list[dict[str, Any]]:
    """Flush the client, then return every error event received so far."""
    sentry_sdk.flush(timeout=5)
    return endpoint.events()


def tags_of(event: dict[str, Any]) -> dict[str, str]:
    """An event's tags as a dict (envelopes carry a dict, older protocols a list of pairs)."""
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {key: value for key, value in tags}


def exception_of(event: dict[str, Any]) -> dict[str, Any]:
    """The outermost exception of an event (the last value of ``exception.values``)."""
    values: list[dict[str, Any]] = event["exception"]["values"]
    return values[-1]


# ------------------------------------------------------------------ tests of the helper


def test_parse_envelope_reads_items_with_and_without_length():
    body = (
        b'{"event_id":"abc"}\n'
        b'{"type":"event","length":13}\n{"level":"x"}\n'
        b'{"type":"client_report"}\n{"discarded_events":[]}\n'
    )
    header, items = parse_envelope(body)
    assert header == {"event_id": "abc"}
    assert [item[0]["type"] for item in items] == ["event", "client_report"]
    assert json.loads(items[0][1]) == {"level": "x"}
    assert json.loads(items[1][1]) == {"discarded_events": []}


def test_endpoint_receives_a_real_gzip_envelope_from_sentry_sdk():
    endpoint = SentryEndpoint()
    try:
        with sentry_session(endpoint):
            event_id = sentry_sdk.capture_message("hello from the test", level="info")
            events = flushed_events(endpoint)
        assert [event["event_id"] for event in events] == [event_id]
        assert events[0]["level"] == "info"
        assert endpoint.paths == ["/api/1/envelope/"]
        # The session closed the client: nothing is recorded any more.
        assert not sentry_sdk.get_client().is_active()
        assert not sentry_integration.is_installed()
    finally:
        endpoint.close()
