"""Direct publishing on Redis: job messages pushed straight onto kombu's lists, in pipelines.

Celery's publish path (message building, routing, a new Redis client per publish) costs most of
an enqueue. Here Celery builds the real messages of the first two jobs of each task, queue and
priority (through :class:`~activejob_celery.adapters.capture.MessageBuilder`, so the list key,
envelope, headers and queue declaration are Celery's and kombu's own); when a template cut from
the first reproduces the second byte for byte, every later job of that kind is a copy with its
own id, arguments and body, pushed with one held Redis client; ``perform_all_later`` pushes
1 000 per round trip inside MULTI/EXEC. A consumer cannot tell the copies from messages Celery
published.

Copies are made only when that can be shown (see :mod:`.proof`): the message is plain
uncompressed JSON carrying exactly the headers and properties Celery's protocol 2 writes, and
Celery's and kombu's publish functions are their own, not wrapped by a library that adds headers
(sentry-sdk's ``CeleryIntegration`` wraps ``Celery.send_task``). Otherwise, and while anything
listens to Celery's ``before_task_publish``/``after_task_publish`` signals, jobs go through
Celery.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import TYPE_CHECKING, Any

from celery.signals import after_task_publish, before_task_publish

from ..packed_commands import push_batch
from .batch import prepare_all
from .proof import TIMED_KINDS, Template, TemplateKey, publish_functions, stranger, template_key

if TYPE_CHECKING:
    import redis

    from ..base import ApplicationJob
    from .capture import MessageBuilder
    from .celery import CeleryAdapter, Outgoing

logger = logging.getLogger(__name__)

_publishers: weakref.WeakSet[DirectPublisher] = weakref.WeakSet()


def _forget_templates_after_fork() -> None:
    # A message names the process that sent it (``origin``): a child proves its own templates.
    for publisher in list(_publishers):
        publisher.forget()


os.register_at_fork(after_in_child=_forget_templates_after_fork)


def install(adapter: CeleryAdapter, builder: MessageBuilder | None, client: Any) -> None:
    """Give ``adapter`` the direct publish path on ``client`` (none without a builder or client).

    ``init_app`` calls this with the scheduled set's message builder and Redis client: the same
    Redis and builder serve immediate jobs.

    Example:
        >>> install(adapter, MessageBuilder(app), client)       # doctest: +SKIP
    """
    adapter.direct = None
    if builder is not None and client is not None:
        adapter.direct = DirectPublisher(adapter, builder, client)


class DirectPublisher:
    """Publishes jobs onto the broker's Redis lists without Celery's per-message publish path.

    Example:
        >>> adapter.direct                                     # doctest: +SKIP
        <DirectPublisher 3 templates>
    """

    def __init__(
        self, adapter: CeleryAdapter, builder: MessageBuilder, client: redis.Redis
    ) -> None:
        self.adapter = adapter
        self.builder = builder
        self.client = client
        self._templates: dict[TemplateKey, Template | None] = {}
        """Proven templates; None: this kind of job always goes through Celery."""
        self._candidates: dict[TemplateKey, Template] = {}
        """Templates cut from a first message, waiting for the second to prove them."""
        self._functions: tuple[Any, ...] = ()
        self._told: set[str] = set()
        _publishers.add(self)

    def usable(self) -> bool:
        """False while anything listens to Celery's publish signals (they must see every job)."""
        return not (
            before_task_publish.receivers
            or after_task_publish.receivers
            or self.adapter.app.conf.task_inherit_parent_priority
        )

    def publish(self, job: ApplicationJob) -> None:
        """Push one job; broker errors propagate (the adapter turns them into EnqueueError)."""
        push = self._push_for(job)
        status = self.adapter.status
        if push is None:  # published through Celery
            self.adapter.note_enqueued([job])
        elif status is None or job._retrying or status.client is not self.client:
            self.client.lpush(*push)
            if status is not None:
                self.adapter.note_enqueued([job])
        else:  # the job's status rides in the same command as its message
            status.push(*push, job)

    def message_for(self, job: ApplicationJob) -> tuple[bytes, bytes] | None:
        """``(list key, message)`` that :meth:`publish` would push, from a proven template only.

        Nothing is sent; None when the job's kind has no proven template yet (publish it the
        usual way). The concurrency scripts push it atomically with taking a lock.

        Example:
            >>> adapter.direct.message_for(job)                # doctest: +SKIP
            (b'default...', b'{"body": ...}')
        """
        reserved = job.__dict__.get("_reserved_task_id")  # see CeleryAdapter.prepare
        outgoing = self.adapter.prepare(job)
        template = self._templates.get(template_key(job, outgoing))
        if template is None or publish_functions(self.adapter.app) != self._functions:
            if reserved is not None:  # the usual publish prepares again: keep the promised id
                job.__dict__["_reserved_task_id"] = reserved
            return None
        return template.key, template.stamp(outgoing, *self._context())

    def publish_many(self, jobs: list[ApplicationJob]) -> None:
        """Push jobs atomically in one MULTI/EXEC round trip: all of them are queued, or none.

        The messages of one list go in one ``LPUSH`` with many values, which Redis applies
        one after the other: the list ends as the same ``LPUSH`` one by one would leave it.
        Their status (``queued``) rides in the same transaction when it lives in this Redis.
        """
        # Neither the publish functions nor the sending thread's context change while one
        # batch is built: both are read once per batch, not per job.
        functions = publish_functions(self.adapter.app)
        context = self._context()
        status = self.adapter.status
        through_celery: list[ApplicationJob] = []
        tracked: list[ApplicationJob] = []
        if status is not None and status.client is not self.client:
            status, through_celery = None, jobs  # written after, in a round trip of its own
        pushes: dict[bytes, list[bytes]] = {}
        for job, outgoing in zip(jobs, prepare_all(self.adapter, jobs), strict=True):
            push = self._push_for(job, functions, context, outgoing)
            if push is None:
                if through_celery is not jobs:
                    through_celery.append(job)
                continue
            pushes.setdefault(push[0], []).append(push[1])
            if status is not None and not job._retrying:
                tracked.append(job)
        push_batch(self.client, pushes, status, tracked)  # one MULTI/EXEC, packed by hand
        if through_celery:
            self.adapter.note_enqueued(through_celery)

    def copy_for(
        self, job: ApplicationJob, outgoing: Outgoing, batch: tuple[Any, ...] | None = None
    ) -> tuple[bytes, bytes] | None:
        """``(list key, message)`` of a prepared ``job`` from a proven template, or None.

        What the message builder would capture for it (the template reproduced such a message
        byte for byte); the scheduled set stores it for release. None: build it with Celery,
        then hand the capture to :meth:`learn`. ``batch``: :meth:`batch_context`, read once
        for a batch built in one pass.

        Example:
            >>> adapter.direct.copy_for(job, adapter.prepare(job))   # doctest: +SKIP
            (b'default', b'{"body": ...}')
        """
        template = self._templates.get(template_key(job, outgoing))
        if template is None:
            return None
        # Read on every job, like the single publish (a few us), unless the batch read them.
        functions, reply_to, lineage = batch or self.batch_context()
        if functions != self._functions:
            return None
        return template.key, template.stamp(outgoing, reply_to, lineage)

    def batch_context(self) -> tuple[Any, ...]:
        """Celery's publish functions and the sending thread's ``reply_to`` and lineage."""
        return publish_functions(self.adapter.app), *self._context()

    def learn(
        self, job: ApplicationJob, outgoing: Outgoing, pushes: list[tuple[bytes, bytes]]
    ) -> None:
        """Let the capture of a message Celery built for ``job`` cut or prove its template."""
        key = template_key(job, outgoing)
        if key in self._templates:
            return
        if len(pushes) != 1:  # routed to no queue or to several: never copied
            self._remember(key, None)
            return
        [(list_key, raw)] = pushes
        self._learn(key, list_key, raw, outgoing)

    def forget(self) -> None:
        """Drop every template: the next jobs are built by Celery and prove new ones."""
        self._templates = {}
        self._candidates = {}
        self._functions = ()

    def _push_for(
        self,
        job: ApplicationJob,
        functions: tuple[Any, ...] | None = None,
        context: tuple[str, dict[str, Any]] | None = None,
        outgoing: Outgoing | None = None,
    ) -> tuple[bytes, bytes] | None:
        if outgoing is None:
            outgoing = self.adapter.prepare(job)
        key = template_key(job, outgoing)
        template = self._templates.get(key)
        if template is not None:
            if functions is None:
                functions = publish_functions(self.adapter.app)
            if functions == self._functions:
                return template.key, template.stamp(outgoing, *(context or self._context()))
            self.forget()  # something wrapped Celery's publish path since the proof
        pushes = self.builder.build(
            lambda producer: self.adapter.send_prepared(job, outgoing, producer=producer)
        )
        if len(pushes) != 1:
            # Routed to no queue or to several: let Celery publish it, and every one like it.
            self._remember(key, None)
            self.adapter.send_prepared(job, outgoing)
            return None
        [(list_key, raw)] = pushes
        if key not in self._templates:
            self._learn(key, list_key, raw, outgoing)
        return list_key, raw

    def _learn(self, key: TemplateKey, list_key: bytes, raw: bytes, outgoing: Outgoing) -> None:
        """Cut a candidate from a first message; prove it on the second (or give up on the key)."""
        app = self.adapter.app
        functions = publish_functions(app)
        problem = stranger(app, functions)
        if problem is not None:
            self._remember(key, None)
            self._tell(problem)
            return
        candidate = self._candidates.pop(key, None)
        if candidate is None:
            fresh = Template.parse(list_key, raw)
            if isinstance(fresh, str):
                self._remember(key, None)
                self._tell(f"{key[0]} on queue {key[1]!r}: {fresh}")
            else:
                self._remember(key, fresh, candidate=True)
            return
        copy = candidate.stamp(outgoing, *self._context(), delivery_tag=candidate.tag_of(raw))
        if copy == raw:
            self._functions = functions
            self._remember(key, candidate)
            return
        self._remember(key, None)
        self._tell(f"{key[0]} on queue {key[1]!r}: two messages Celery built differ beyond ids")

    def _remember(
        self, key: TemplateKey, template: Template | None, *, candidate: bool = False
    ) -> None:
        """Keep what was learnt of ``key``; a kind with a chosen timeout only below the cap."""
        if key[3] is not None:
            kept = sum(1 for kind in (*self._templates, *self._candidates) if kind[3] is not None)
            if kept >= TIMED_KINDS:
                return  # so many chosen timeouts: Celery builds the others' messages (no memory)
        if candidate:
            assert template is not None
            self._candidates[key] = template
        else:
            self._templates[key] = template

    def _context(self) -> tuple[str, dict[str, Any]]:
        """``reply_to`` (Celery's per-thread id) and lineage, as Celery's send_task finds them."""
        app = self.adapter.app
        parent = app.current_worker_task
        if not parent:
            return app.thread_oid, {}
        # As Celery's send_task does: a job enqueued by a running task is its child.
        request = parent.request
        return app.thread_oid, {"root_id": request.root_id or request.id, "parent_id": request.id}

    def _tell(self, problem: str) -> None:
        if problem not in self._told:
            self._told.add(problem)
            logger.info(
                "Direct publishing steps aside (jobs go through Celery) for app %r: %s",
                self.adapter.app.main,
                problem,
            )

    def __repr__(self) -> str:
        proven = sum(1 for template in self._templates.values() if template is not None)
        return f"<DirectPublisher {proven} templates>"
