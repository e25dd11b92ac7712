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
from .errors import BackendPaused, PermanentError, RetryableError
from .leases import heartbeat
from .models import Backend, InboxMessage
from .wakeup import notify

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
                max_attempts=int(_setting("INBOX_MAX_ATTEMPTS", 8)),
                message_id=(message_id or "")[:255],
                dedup_key=dedup_key[:255],
                body=body,
                content_type=_without_nul(content_type or "")[:128],
                headers=kept_headers,
            )
            notify("inbox")
        return message, True
    except IntegrityError:
        InboxMessage.objects.filter(source=source, dedup_key=dedup_key[:255]).update(duplicates=F("duplicates") + 1)
        return InboxMessage.objects.get(source=source, dedup_key=dedup_key[:255]), False


def accept_webhook(request, *, source: str, backend: Backend | None, message_id: str | None = None):
    """The whole of a webhook view's work: store (deduplicated), journal, answer 200 at once.

    Processing happens later in a worker (`process_inbox`), so amoCRM's 2 s and MoySklad's 1.5 s
    limits are met whatever the handler costs.
    """
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


def lease_seconds() -> float:
    return float(_setting("INBOX_LEASE_SECONDS", 120))


def _lease_until() -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=lease_seconds()), output_field=DateTimeField())


def claim(worker: str, limit: int, *, source: str | None = None) -> list[InboxMessage]:
    """Lease up to `limit` due messages; every claim counts as an attempt.

    A message whose lease expired (its worker stopped or was killed mid-processing) is rejected at its attempt
    limit, else claimed alone, so a message that kills its worker cannot take a whole batch down with it again.
    """
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
        rows = list(candidates.values_list("id", "status", "lease_owner", "attempts", "max_attempts")[:limit])
        expired = [row for row in rows if row[1] == Status.PROCESSING]
        for message_id, _status, owner, attempts, limit_ in expired:
            if attempts >= limit_:
                InboxMessage.objects.filter(pk=message_id).update(
                    status=Status.REJECTED, lease_owner="", lease_expires_at=None,
                    error=f"attempt {attempts} of {limit_}: lease of {owner} expired before an outcome was recorded "
                    "(the worker stopped or was killed); attempt limit reached",
                )
                logger.warning("inbox: message %s rejected: its worker stopped during %s attempt(s)", message_id, attempts)
        retried = [row for row in expired if row[3] < row[4]][:1]
        ids = [row[0] for row in (retried or [row for row in rows if row[1] != Status.PROCESSING])]
        if not ids:
            return []
        # Still due: without row locks (SQLite) a concurrent claimer may have taken some of them meanwhile.
        InboxMessage.objects.filter(due, pk__in=ids).update(
            status=Status.PROCESSING, lease_owner=worker, lease_expires_at=_lease_until(), attempts=F("attempts") + 1
        )
    leased = InboxMessage.objects.filter(pk__in=ids, status=Status.PROCESSING, lease_owner=worker)
    return list(leased.select_related("backend").order_by("id"))


def renew_leases(worker: str, ids: list[int]) -> int:
    """Extend this worker's live leases among `ids` (rows locked by someone else are skipped, never waited for)."""
    with transaction.atomic():
        owned = InboxMessage.objects.filter(pk__in=ids, status=Status.PROCESSING, lease_owner=worker)
        if connection.features.has_select_for_update_skip_locked:
            owned = owned.select_for_update(skip_locked=True)
        return InboxMessage.objects.filter(pk__in=list(owned.values_list("pk", flat=True))).update(
            lease_expires_at=_lease_until()
        )


# Bad input: retrying the same message cannot help, so it is rejected at once (staff can replay it).
INVALID_INPUT = (PermanentError, ValueError, LookupError)


def _retry_later(message: InboxMessage, now, error: str, retry_after: float | None) -> dict:
    if message.attempts >= message.max_attempts:
        return {"status": Status.REJECTED, "error": f"gave up after {message.attempts} attempts: {error}"[:4000]}
    base = float(_setting("INBOX_BACKOFF_BASE", 5.0))
    delay = retry_after if retry_after is not None else base * 2 ** (message.attempts - 1)
    return {"status": Status.FAILED, "next_attempt_at": now + timedelta(seconds=delay), "error": error[:4000]}


def process_message(message: InboxMessage, worker: str) -> str:
    """Run the handler of one leased message and record the outcome; returns the new status.

    Invalid input (PermanentError, a parse or mapping error) is rejected at once; a RetryableError — a side
    being down, a dependency not there yet — and any other failure are retried with backoff, then rejected
    at the attempt limit."""
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
        updates.update(_retry_later(message, now, f"{type(exc).__name__}: {exc}", exc.retry_after))
    except INVALID_INPUT as exc:
        logger.warning("inbox: message %s from %s rejected: %s: %s", message.pk, message.source, type(exc).__name__, exc)
        updates.update(status=Status.REJECTED, error=f"{type(exc).__name__}: {exc}"[:4000])
    except Exception as exc:  # noqa: BLE001 - a database hiccup or a bug: retried, then rejected; the worker goes on
        logger.exception("inbox: message %s from %s failed", message.pk, message.source)
        updates.update(_retry_later(message, now, f"{type(exc).__name__}: {exc}", None))
    InboxMessage.objects.filter(pk=message.pk, lease_owner=worker).update(**updates)
    for key, value in updates.items():
        setattr(message, key, value)
    return updates["status"]


def process_inbox(worker_id: str | None = None, *, limit: int = 50, source: str | None = None) -> dict[str, int]:
    """Claim due messages with SKIP LOCKED and process them one by one, a heartbeat renewing their leases;
    returns counts per outcome."""
    worker = worker_id or f"inbox:{socket.gethostname()}:{os.getpid()}"
    counts: dict[str, int] = {}
    messages = claim(worker, limit, source=source)
    if not messages:
        return counts
    ids = [m.pk for m in messages]
    with heartbeat(lambda: renew_leases(worker, ids), lease_seconds() / 3, name=worker) as beat:
        for message in messages:
            beat.handler_starts()
            status = process_message(message, worker)
            counts[status] = counts.get(status, 0) + 1
    return counts


def replay(messages) -> int:
    """Queue processed/rejected/failed messages for processing again, now, with a fresh attempt budget."""
    ids = [m.pk for m in messages]
    budget = int(_setting("INBOX_MAX_ATTEMPTS", 8))
    count = (
        InboxMessage.objects.filter(pk__in=ids)
        .exclude(status=Status.PROCESSING, lease_expires_at__gt=timezone.now())
        .update(status=Status.RECEIVED, next_attempt_at=timezone.now(), error="", lease_owner="", lease_expires_at=None,
                max_attempts=F("attempts") + budget)
    )
    if count:
        notify("inbox")
    return count
