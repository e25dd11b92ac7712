"""Inbox: webhooks are stored first (deduplicated), answered fast, and processed later by workers."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import journal
from .errors import BackendPaused, RetryableError
from .models import Backend, InboxMessage

logger = logging.getLogger(__name__)
Status = InboxMessage.Status

Handler = Callable[[InboxMessage], None]
_handlers: dict[str, Handler] = {}

# Header values worth keeping for processing; secrets are masked before storing.
_KEPT_HEADER_LIMIT = 40


def handler(source: str) -> Callable[[Handler], Handler]:
    """Register `fn(message)` as the processor of webhooks from `source`."""

    def register(fn: Handler) -> Handler:
        _handlers[source] = fn
        return fn

    return register


def get_handler(source: str) -> Handler | None:
    return _handlers.get(source)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class BadWebhook(ValueError):
    """A webhook request refused at the door: `field` names the part (body, requestId, query), `reason` says why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def webhook_body(request: HttpRequest) -> bytes:
    """The request body, or BadWebhook when it is over DATA_UPLOAD_MAX_MEMORY_SIZE."""
    try:
        return request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise BadWebhook("body", str(_("larger than %(limit)s bytes") % {"limit": limit})) from None


def query_param(request: HttpRequest, name: str) -> str | None:
    """One query parameter, or BadWebhook when the query string has more fields than Django parses."""
    try:
        return request.GET.get(name)
    except TooManyFieldsSent:
        raise BadWebhook("query", str(_("too many parameters"))) from None


def refuse_webhook(request: HttpRequest, error: BadWebhook, backend: Backend | None, *, started: float | None = None):
    """400 problem+json naming the field and the reason; journaled, nothing stored."""
    body = {
        "type": "urn:amoerp:problem:bad-webhook",
        "title": str(_("The webhook request is malformed")),
        "status": 400,
        "detail": str(error),
        "errors": {error.field: [error.reason]},
    }
    response = JsonResponse(body, status=400, content_type="application/problem+json")
    journal.journal_incoming(request, response, backend, started=started)
    return response


def _without_nul(text: str) -> str:
    # PostgreSQL text and jsonb cannot hold U+0000; a header carrying one is kept without it.
    return text.replace("\x00", "")


def store_webhook(
    *,
    source: str,
    backend: Backend | None,
    message_id: str | None,
    body: bytes,
    content_type: str,
    headers: dict,
) -> tuple[InboxMessage, bool]:
    """Store an incoming webhook; returns (message, created). A repeat (same message id, or same body
    when there is no id) returns the stored message with created=False and bumps its duplicate count."""
    if not source:
        raise ValueError("source: must not be empty")
    body = bytes(body or b"")
    dedup_key = f"id:{message_id}" if message_id else f"sha256:{body_hash(body)}"
    known = journal.secrets.credential_values(backend.credentials) if backend else []
    masked = journal.secrets.mask_headers(headers or {}, known).items()
    kept_headers = {_without_nul(str(k)): _without_nul(str(v)) for k, v in list(masked)[:_KEPT_HEADER_LIMIT]}
    try:
        with transaction.atomic():
            message = InboxMessage.objects.create(
                source=source,
                backend=backend,
                message_id=(message_id or "")[:255],
                dedup_key=dedup_key[:255],
                body=body,
                content_type=_without_nul(content_type or "")[:128],
                headers=kept_headers,
            )
        return message, True
    except IntegrityError:
        InboxMessage.objects.filter(source=source, dedup_key=dedup_key[:255]).update(duplicates=F("duplicates") + 1)
        return InboxMessage.objects.get(source=source, dedup_key=dedup_key[:255]), False


def accept_webhook(request, *, source: str, backend: Backend | None, message_id: str | None = None):
    """The whole of a webhook view's work: store (deduplicated), journal, answer 200 at once.

    Processing happens later in a worker (`process_inbox`), so amoCRM's 2 s and MoySklad's 1.5 s
    limits are met whatever the handler costs.
    """
    from django.http import JsonResponse

    started = time.monotonic()
    message, created = store_webhook(
        source=source,
        backend=backend,
        message_id=message_id,
        body=request.body,
        content_type=request.content_type or "",
        headers=dict(request.headers),
    )
    response = JsonResponse({"ok": True, "id": message.pk, "duplicate": not created})
    journal.journal_incoming(request, response, backend, started=started)
    return response


def _setting(name: str, default):
    return settings.AMOERP.get(name, default)


def claim(worker: str, limit: int, *, source: str | None = None) -> list[InboxMessage]:
    now = Now()  # the database's clock: leases mean the same on every host
    due = (
        Q(status__in=[Status.RECEIVED, Status.FAILED], next_attempt_at__lte=now)
        | Q(status=Status.PROCESSING, lease_expires_at__lt=now)
    ) & (Q(backend__isnull=True) | Q(backend__paused=False, backend__active=True))
    with transaction.atomic():
        candidates = InboxMessage.objects.filter(due).order_by("id")
        if source:
            candidates = candidates.filter(source=source)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        InboxMessage.objects.filter(pk__in=ids).update(
            status=Status.PROCESSING,
            lease_owner=worker,
            lease_expires_at=ExpressionWrapper(
                Now() + timedelta(seconds=float(_setting("INBOX_LEASE_SECONDS", 120))), output_field=DateTimeField()
            ),
            attempts=F("attempts") + 1,
        )
    return list(InboxMessage.objects.select_related("backend").filter(pk__in=ids).order_by("id"))


def process_message(message: InboxMessage, worker: str) -> str:
    """Run the handler of one leased message and record the outcome; returns the new status."""
    fn = get_handler(message.source)
    now = timezone.now()
    updates: dict = {"lease_owner": "", "lease_expires_at": None}
    try:
        if fn is None:
            raise LookupError(f"no handler registered for source {message.source!r}")
        fn(message)
        updates.update(status=Status.PROCESSED, processed_at=timezone.now(), error="")
    except BackendPaused as exc:
        updates.update(status=Status.RECEIVED, attempts=max(0, message.attempts - 1), next_attempt_at=now + timedelta(seconds=5), error=str(exc))
    except RetryableError as exc:
        if message.attempts >= int(_setting("INBOX_MAX_ATTEMPTS", 8)):
            updates.update(status=Status.REJECTED, error=f"gave up after {message.attempts} attempts: {exc}")
        else:
            base = float(_setting("INBOX_BACKOFF_BASE", 5.0))
            delay = exc.retry_after if exc.retry_after is not None else base * 2 ** (message.attempts - 1)
            updates.update(status=Status.FAILED, next_attempt_at=now + timedelta(seconds=delay), error=f"RetryableError: {exc}")
    except Exception as exc:  # noqa: BLE001 - parse errors and bugs reject the message; the worker goes on
        logger.warning("inbox: message %s from %s rejected: %s: %s", message.pk, message.source, type(exc).__name__, exc)
        updates.update(status=Status.REJECTED, error=f"{type(exc).__name__}: {exc}"[:4000])
    InboxMessage.objects.filter(pk=message.pk, lease_owner=worker).update(**updates)
    for key, value in updates.items():
        setattr(message, key, value)
    return updates["status"]


def process_inbox(worker_id: str | None = None, *, limit: int = 50, source: str | None = None) -> dict[str, int]:
    """Claim due messages with SKIP LOCKED and process them one by one; returns counts per outcome."""
    worker = worker_id or f"inbox:{socket.gethostname()}:{os.getpid()}"
    counts: dict[str, int] = {}
    for message in claim(worker, limit, source=source):
        status = process_message(message, worker)
        counts[status] = counts.get(status, 0) + 1
    return counts


def replay(messages) -> int:
    """Queue processed/rejected/failed messages for processing again, now."""
    ids = [m.pk for m in messages]
    return (
        InboxMessage.objects.filter(pk__in=ids)
        .exclude(status=Status.PROCESSING, lease_expires_at__gt=timezone.now())
        .update(status=Status.RECEIVED, next_attempt_at=timezone.now(), error="", lease_owner="", lease_expires_at=None)
    )
