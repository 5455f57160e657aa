"""What the direct publish path must show before it copies a message Celery built.

A copy is made only from a :class:`Template` cut from a message that is plain, uncompressed JSON
with exactly the headers and properties Celery's protocol 2 writes (a whitelist), while
Celery's and kombu's publish functions are their own (:func:`stranger`), and only after the
template has reproduced a second message Celery built byte for byte (see
:class:`~activejob_celery.adapters.direct.DirectPublisher`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import operator
import os
import threading
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

import celery
import kombu
from celery.app.routes import MapRoute

from ..core import new_id
from ..internals import cached_value

if TYPE_CHECKING:
    from ..base import ApplicationJob
    from .celery import Outgoing

CELERY_HEADERS = frozenset(
    {
        "lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries",
        "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin",
        "ignore_result", "replaced_task_nesting", "stamped_headers", "stamps",
    }
)  # fmt: skip
"""The headers of Celery's protocol 2 (``AMQP.as_task_v2``); any other one was added by
someone else (compression, a tracing library) and may differ from job to job."""
CELERY_PROPERTIES = frozenset(
    {
        "correlation_id", "reply_to", "argsrepr", "kwargsrepr", "delivery_mode",
        "delivery_info", "priority", "body_encoding", "delivery_tag",
    }
)  # fmt: skip
ENVELOPE = frozenset({"body", "content-encoding", "content-type", "headers", "properties"})

_VARYING = ("body", "id", "root_id", "parent_id", "argsrepr", "kwargsrepr", "correlation_id",
            "reply_to", "delivery_tag", "properties_argsrepr", "properties_kwargsrepr")  # fmt: skip
_HEADER_SLOTS = ("id", "root_id", "parent_id", "argsrepr", "kwargsrepr")
_PROPERTY_SLOTS = ("correlation_id", "reply_to", "delivery_tag")
_PROPERTY_REPRS = ("argsrepr", "kwargsrepr")
"""Celery also copies these two into the message properties; each copy gets its own slot."""

TemplateKey = tuple[str, str, int | None, Any]
"""Job class, queue, message priority, and the payload's ``timeout`` (its ``timelimit`` header)."""


TIMED_KINDS = 256
"""Kinds with a ``set(timeout=...)`` given templates; beyond it, Celery builds such messages."""


def template_key(job: ApplicationJob, outgoing: Outgoing) -> TemplateKey:
    """The template ``job``'s message is copied from: what its constant headers depend on."""
    return job.job_name, job.queue_name, outgoing.priority, outgoing.payload.get("timeout")


_ENCODER = json.JSONEncoder()
"""``json.dumps`` with its default arguments is this encoder's ``encode``."""
_local = threading.local()
"""Each thread's C encoder and its circular-reference markers (never shared between threads)."""


def _c_encoder() -> tuple[dict[int, Any], Any]:
    markers: dict[int, Any] = {}
    made = c_make_encoder(markers, _ENCODER.default, encode_basestring_ascii, None, ": ", ", ",
                          False, False, True)  # fmt: skip
    _local.encoder = markers, made
    return markers, made


def encode(value: Any) -> str:
    """``json.dumps(value)`` (default arguments): the same text, without the per-call set-up.

    ``_ENCODER.encode`` builds a new C encoder on every call; each thread keeps one here.

    Example:
        >>> encode({"a": [1, None]})
        '{"a": [1, null]}'
    """
    if c_make_encoder is None or isinstance(value, str):
        return _ENCODER.encode(value)
    markers, made = getattr(_local, "encoder", None) or _c_encoder()
    try:
        return "".join(made(value, 0))
    except BaseException:
        markers.clear()  # as a fresh encoder would start: no half-walked containers
        raise


def _text(value: str | None) -> str:
    """``json.dumps(value)`` for a string or None, without ``dumps``'s per-call set-up."""
    return "null" if value is None else encode_basestring_ascii(value)


_OWN_DIRS = tuple(os.path.dirname(module.__file__ or "") + os.sep for module in (celery, kombu))


def publish_functions(app: Any) -> tuple[Any, ...]:
    """The functions a job's publish runs through; copies are valid while they stay the same.

    Example:
        >>> publish_functions(app)[0] is Celery.send_task     # doctest: +SKIP
        True
    """
    # Read on every job: Celery's cached properties are read from where they are cached
    # (a few hundred ns per job instead of several us).
    amqp = cached_value(app, "amqp")
    return (
        type(app).send_task,
        vars(app).get("send_task"),
        cached_value(amqp, "send_task_message"),
        cached_value(amqp, "create_task_message"),
        amqp.Producer.publish,
    )


_NAMES = ("Celery.send_task", "app.send_task", "app.amqp.send_task_message",
          "app.amqp.create_task_message", "kombu.Producer.publish")  # fmt: skip


def stranger(app: Any, functions: tuple[Any, ...]) -> str | None:
    """Why copies cannot be shown equal to what Celery would send, or None when they can.

    Example:
        >>> stranger(app, publish_functions(app))              # doctest: +SKIP
        'Celery.send_task is wrapped by .../sentry_sdk/integrations/celery/__init__.py'
    """
    for name, function in zip(_NAMES, functions, strict=True):
        if function is None and name == "app.send_task":
            continue
        where = _foreign_code(function)
        if where is not None:
            return f"{name} is wrapped by {where}"
    routers = [route for route in app.amqp.router.routes if not isinstance(route, MapRoute)]
    if routers:
        return f"task_routes has a router function ({routers[0]!r}), which may route by arguments"
    if app.conf.task_send_sent_event:
        return "task_send_sent_event is on (Celery sends an event with each message)"
    return None


def _foreign_code(function: Any) -> str | None:
    function = getattr(function, "__func__", function)
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function)
    if hasattr(function, "__wrapped__") or not code.co_filename.startswith(_OWN_DIRS):
        return str(code.co_filename)
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    """A message Celery built, rendered once, with slots for what differs from job to job."""

    key: bytes
    pieces: tuple[str, ...]
    """JSON text between the slots; ``slots[n]`` goes between ``pieces[n]`` and ``pieces[n+1]``."""
    slots: tuple[str, ...]
    embed_json: str
    text: str = dataclasses.field(init=False, repr=False, compare=False)
    """The pieces as one ``%`` format with a ``%s`` in each slot."""
    pick: Any = dataclasses.field(init=False, repr=False, compare=False)
    """Picks the slots' values, in slot order, from the values in ``_VARYING`` order."""

    def __post_init__(self) -> None:
        text = "%s".join(piece.replace("%", "%%") for piece in self.pieces)
        object.__setattr__(self, "text", text)
        order = [_VARYING.index(slot) for slot in self.slots]
        object.__setattr__(self, "pick", lambda values: tuple(values[n] for n in order))
        if len(order) > 1:
            object.__setattr__(self, "pick", operator.itemgetter(*order))

    @classmethod
    def parse(cls, key: bytes, raw: bytes) -> Template | str:
        """Cut a template from one captured message; a string says why it cannot be copied.

        Example:
            >>> Template.parse(b"default", raw).slots          # doctest: +SKIP
            ('body', 'id', ...)
        """
        try:
            envelope = json.loads(raw)
            problem = _unusual(envelope)
            if problem is not None:
                return problem
            _args, _kwargs, embed = json.loads(base64.b64decode(envelope["body"]))
        except (ValueError, TypeError, KeyError) as error:
            return f"the message Celery built cannot be read as plain JSON ({error})"
        headers, properties = envelope["headers"], envelope["properties"]
        # Render the envelope once with a marker in each varying field, then cut it at the
        # markers: a job's message is the pieces joined with its own encoded values.
        marks = {name: f"\x00{name}\x00" for name in _VARYING}
        envelope["body"] = marks["body"]
        for name in _HEADER_SLOTS:
            headers[name] = marks[name]
        for name in _PROPERTY_SLOTS:
            if name in properties:
                properties[name] = marks[name]
        for name in _PROPERTY_REPRS:
            if name in properties:
                properties[name] = marks[f"properties_{name}"]
        text = json.dumps(envelope)
        encoded = {json.dumps(mark): name for name, mark in marks.items()}
        found = sorted((text.index(mark), mark) for mark in encoded if mark in text)
        pieces, slots, start = [], [], 0
        for position, mark in found:
            pieces.append(text[start:position])
            slots.append(encoded[mark])
            start = position + len(mark)
        pieces.append(text[start:])
        return cls(key, tuple(pieces), tuple(slots), json.dumps(embed))

    def stamp(
        self,
        outgoing: Outgoing,
        reply_to: str,
        lineage: dict[str, Any],
        *,
        delivery_tag: str | None = None,
    ) -> bytes:
        """The message of ``outgoing``: this template with its own ids, reprs and body."""
        task_id = outgoing.task_id
        body = f"[[{encode(outgoing.payload)}], {{}}, {self.embed_json}]".encode()
        quoted_id = encode_basestring_ascii(task_id)
        argsrepr = _text(outgoing.reprs["argsrepr"])
        kwargsrepr = _text(outgoing.reprs["kwargsrepr"])
        root_id = lineage.get("root_id", task_id)
        values = (  # in _VARYING order; base64 text needs no JSON escapes, only its quotes
            f'"{base64.b64encode(body).decode()}"',
            quoted_id,
            quoted_id if root_id is task_id else _text(root_id),
            _text(lineage.get("parent_id")),
            argsrepr,
            kwargsrepr,
            quoted_id,
            _text(reply_to),
            encode_basestring_ascii(delivery_tag or new_id()),
            argsrepr,
            kwargsrepr,
        )
        message: str = self.text % self.pick(values)
        return message.encode()

    @staticmethod
    def tag_of(raw: bytes) -> str:
        """The delivery tag kombu gave a captured message (a random id)."""
        return str(json.loads(raw)["properties"]["delivery_tag"])


def _unusual(envelope: Any) -> str | None:
    """What makes ``envelope`` other than a plain protocol 2 JSON message, or None."""
    if not isinstance(envelope, dict) or set(envelope) != ENVELOPE:
        return "the message envelope has fields kombu's Redis transport does not write"
    headers, properties = envelope["headers"], envelope["properties"]
    if not isinstance(headers, dict) or not isinstance(properties, dict):
        return "the message has no header or property map"
    if "compression" in headers:
        return f"messages are compressed ({headers['compression']}; task_compression)"
    extra = sorted(set(headers) - CELERY_HEADERS) + sorted(set(properties) - CELERY_PROPERTIES)
    if extra:
        return f"messages carry headers Celery does not write itself: {', '.join(extra)}"
    if not {*_HEADER_SLOTS, "task"} <= headers.keys() or "delivery_tag" not in properties:
        return "the message lacks headers Celery's protocol 2 writes"
    if (
        envelope["content-type"] != "application/json"
        or envelope["content-encoding"] != "utf-8"
        or properties.get("body_encoding") != "base64"
    ):
        return "messages are not JSON (task_serializer)"
    if headers.get("eta") is not None or headers.get("expires") is not None:
        return "messages carry an eta or an expiry (task_default_expires, routes)"
    return None
