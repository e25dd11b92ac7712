"""Transactional outbox: enqueue inside the business transaction, deliver later through the relay.

A handler registered for a topic performs the remote call for one event and returns a result dict (or
None); it raises RetryableError / PermanentError. Delivery happens in `integration.relay`.
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .models import Backend, OutboxEvent
from .wakeup import notify

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], "dict | None"]
_handlers: dict[str, Handler] = {}

HANDLER_MODULES_ENV = "AMOERP_OUTBOX_HANDLER_MODULES"
OPEN_STATUSES = (OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT, OutboxEvent.Status.DEAD)


def setting(name: str, default):
    return settings.AMOERP.get(name, default)


def handler(topic: str) -> Callable[[Handler], Handler]:
    """Register `fn(event) -> dict | None` as the deliverer of `topic` (one handler per topic)."""

    def register(fn: Handler) -> Handler:
        previous = _handlers.get(topic)
        if previous is not None and previous is not fn:
            logger.warning("outbox: handler of %r replaced by %s.%s", topic, fn.__module__, fn.__qualname__)
        _handlers[topic] = fn
        return fn

    return register


def get_handler(topic: str) -> Handler | None:
    return _handlers.get(topic)


def load_handler_modules(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import extra handler modules (named here or in $AMOERP_OUTBOX_HANDLER_MODULES, comma-separated)."""
    names = [*modules, *os.environ.get(HANDLER_MODULES_ENV, "").split(",")]
    for name in names:
        if name.strip():
            importlib.import_module(name.strip())


def aggregate_key(aggregate: models.Model | str) -> tuple[str, str]:
    """("app_label.model", "pk") for a model instance; "type:id" strings are split at the first colon."""
    if isinstance(aggregate, models.Model):
        if aggregate.pk is None:
            raise ValueError("aggregate: the object must be saved before an event about it is enqueued")
        meta = aggregate._meta.concrete_model._meta
        return f"{meta.app_label}.{meta.model_name}", str(aggregate.pk)
    text = str(aggregate)
    if not text:
        raise ValueError("aggregate: must be a model instance or a non-empty 'type:id' string")
    kind, _sep, ident = text.partition(":")
    return kind[:64], ident[:64]


def enqueue(
    *,
    backend: Backend,
    topic: str,
    aggregate: models.Model | str,
    payload: dict,
    idempotency_key: str = "",
) -> OutboxEvent:
    """Write an outgoing event; call it inside the business transaction so both commit or neither.

    The idempotency key (default: a fresh UUID) travels with every delivery attempt. Enqueueing the same
    (backend, topic, key) again returns the existing event instead of adding a second one.
    """
    if not topic:
        raise ValueError("topic: must not be empty")
    if not isinstance(payload, dict):
        raise ValueError(f"payload: must be a dict, got {type(payload).__name__}")
    aggregate_type, aggregate_id = aggregate_key(aggregate)
    key = idempotency_key or str(uuid.uuid4())
    defaults = {
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "payload": payload,
        "max_attempts": int(setting("OUTBOX_MAX_ATTEMPTS", 10)),
        "next_attempt_at": timezone.now(),
    }
    if not idempotency_key:
        event = OutboxEvent.objects.create(backend=backend, topic=topic, idempotency_key=key, **defaults)
        created = True
    else:
        event, created = OutboxEvent.objects.get_or_create(
            backend=backend, topic=topic, idempotency_key=key, defaults=defaults
        )
    if created:
        notify("outbox")  # idle workers wake when the business transaction commits
    return event


def enqueue_latest(*, backend: Backend, topic: str, aggregate: models.Model | str, payload: dict) -> OutboxEvent:
    """Enqueue for a topic whose handler sends the aggregate's state as it is at delivery (a deal's fields): an
    event of it not yet picked up by a worker will carry this change too, so it is returned instead of a second
    one — ten changes of one order in a minute cost amoCRM one write, not ten.

    The waiting event is locked until the business transaction ends: a worker's claim skips it meanwhile and
    takes it after the commit, so it reads this change; one already claimed is not waiting, and a new event
    follows it."""
    aggregate_type, aggregate_id = aggregate_key(aggregate)
    with transaction.atomic():
        waiting = (
            OutboxEvent.objects.select_for_update(of=("self",))
            .filter(backend=backend, topic=topic, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
                    status=OutboxEvent.Status.PENDING, payload=payload)
            .order_by("id")
            .first()
        )
        return waiting or enqueue(backend=backend, topic=topic, aggregate=aggregate, payload=payload)


def blocking_event(event: OutboxEvent) -> OutboxEvent | None:
    """The earliest undelivered event of the same aggregate that holds `event` back (None if it is free)."""
    return (
        OutboxEvent.objects.filter(
            backend_id=event.backend_id,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            id__lt=event.pk,
            status__in=OPEN_STATUSES,
        )
        .order_by("id")
        .first()
    )


def earlier_open_events() -> Exists:
    """Subquery: an earlier undelivered event of the same backend and aggregate exists."""
    return Exists(
        OutboxEvent.objects.filter(
            backend_id=OuterRef("backend_id"),
            aggregate_type=OuterRef("aggregate_type"),
            aggregate_id=OuterRef("aggregate_id"),
            id__lt=OuterRef("id"),
            status__in=OPEN_STATUSES,
        )
    )


def replay(events, *, max_attempts: int | None = None) -> int:
    """Put dead, discarded or delivered events back in the queue, due now, with a fresh attempt budget."""
    budget = max_attempts or int(setting("OUTBOX_MAX_ATTEMPTS", 10))
    count = 0
    with transaction.atomic():
        ids = [event.pk for event in events]
        locked = OutboxEvent.objects.select_for_update().filter(pk__in=ids).exclude(
            status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT]
        )
        for event in locked:
            event.status = OutboxEvent.Status.PENDING
            event.next_attempt_at = timezone.now()
            event.max_attempts = event.attempts + budget
            event.lease_owner = ""
            event.lease_expires_at = None
            event.save(update_fields=["status", "next_attempt_at", "max_attempts", "lease_owner", "lease_expires_at", "updated_at"])
            count += 1
        if count:
            notify("outbox")
    return count


def discard(events, *, reason: str = "") -> int:
    """Give up on pending or dead events (never on one being delivered right now); unblocks the aggregate."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        ids = [event.pk for event in events]
        for event in OutboxEvent.objects.select_for_update().filter(pk__in=ids):
            leased = event.status == OutboxEvent.Status.IN_FLIGHT and event.lease_expires_at and event.lease_expires_at > now
            if event.status in (OutboxEvent.Status.DELIVERED, OutboxEvent.Status.DISCARDED) or leased:
                continue
            event.status = OutboxEvent.Status.DISCARDED
            event.lease_owner = ""
            event.lease_expires_at = None
            if reason:
                event.last_error = f"{event.last_error}\n[discarded] {reason}".strip()
            event.save(update_fields=["status", "lease_owner", "lease_expires_at", "last_error", "updated_at"])
            count += 1
    return count


def deliver_now(event: OutboxEvent, timeout: float) -> bool:
    """Try to deliver this one event right away in the calling thread (call it after commit).

    Returns True when it is delivered; False when it isn't due, is held back (an earlier event of its
    aggregate, a paused backend, another worker) or the attempt failed — the relay will retry it.
    """
    from .relay import deliver_one

    return deliver_one(event, timeout=timeout)
