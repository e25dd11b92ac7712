"""The integration journal: every HTTP exchange in and out, secrets masked, bodies truncated.

Entries must survive the caller's rollback (the failed exchanges matter most), so when the caller is
inside a transaction they are written on a separate connection of this thread, in autocommit.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from . import secrets
from .bulk import copy_insert
from .models import Backend, JournalEntry

logger = logging.getLogger(__name__)

SIDE_ALIAS = "journal_side"


@dataclass(frozen=True)
class Correlation:
    content_type_id: int
    object_id: str
    label: str


_correlation: contextvars.ContextVar[Correlation | None] = contextvars.ContextVar(
    "integration_journal_correlation", default=None
)


def correlation_for(obj: models.Model | None) -> Correlation | None:
    if obj is None or obj.pk is None:
        return None
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return Correlation(content_type.pk, str(obj.pk), str(obj)[:200])


@contextmanager
def correlate(obj: models.Model | None) -> Iterator[None]:
    """Attach `obj` (an order, a product, a counterparty) to journal entries written inside the block."""
    token = _correlation.set(correlation_for(obj) or _correlation.get())
    try:
        yield
    finally:
        _correlation.reset(token)


def current_correlation() -> Correlation | None:
    return _correlation.get()


@dataclass
class Exchange:
    """One HTTP exchange, as seen by the session or a webhook view, before masking."""

    direction: str
    method: str
    url: str
    status_code: int | None = None
    duration_ms: int = 0
    request_headers: Mapping[str, str] = field(default_factory=dict)
    request_body: bytes | str | None = None
    response_headers: Mapping[str, str] = field(default_factory=dict)
    response_body: bytes | str | None = None
    error: str = ""


def _text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    return str(body).replace("\x00", "\\x00")  # PostgreSQL text cannot hold U+0000: shown escaped


def _storable(headers: Mapping[str, str]) -> dict[str, str]:
    return {_text(str(k)): _text(str(v)) for k, v in headers.items()}


def build_entry(exchange: Exchange, backend: Backend | None, correlation: Correlation | None) -> JournalEntry:
    limit = settings.AMOERP.get("JOURNAL_BODY_LIMIT", 8192)
    known = secrets.credential_values(backend.credentials) if backend is not None else []
    return JournalEntry(
        backend_id=backend.pk if backend is not None else None,
        direction=exchange.direction,
        method=exchange.method.upper()[:10],
        url=secrets.mask_url(exchange.url, known),
        status_code=exchange.status_code,
        duration_ms=max(0, int(exchange.duration_ms)),
        request_headers=_storable(secrets.mask_headers(exchange.request_headers, known)),
        # Truncated first, then redacted: a megabyte page is never parsed whole.
        request_body=secrets.redact_clipped(_text(exchange.request_body), limit, known),
        response_headers=_storable(secrets.mask_headers(exchange.response_headers, known)),
        response_body=secrets.redact_clipped(_text(exchange.response_body), limit, known),
        error=secrets.truncate(secrets.redact_text(exchange.error, known), 2000),
        content_type_id=correlation.content_type_id if correlation else None,
        object_id=correlation.object_id if correlation else "",
        object_repr=correlation.label if correlation else "",
        created_at=timezone.now(),
    )


def in_business_transaction(using: str = DEFAULT_DB_ALIAS) -> bool:
    """True inside an atomic block opened by application code (a test case's own wrapper doesn't count)."""
    conn = connections[using]
    return conn.in_atomic_block and any(
        not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks
    )


def _save_on_side_connection(entry: JournalEntry) -> None:
    """Insert on a short-lived second connection, in autocommit: the caller's transaction can't undo it.

    Rare by design (HTTP inside a business transaction is avoided), so the connection isn't pooled.
    """
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    connections[SIDE_ALIAS] = wrapper
    try:
        entry.save(using=SIDE_ALIAS, force_insert=True)
    finally:
        del connections[SIDE_ALIAS]
        wrapper.close()


_buffer: contextvars.ContextVar[list[JournalEntry] | None] = contextvars.ContextVar("integration_journal_buffer", default=None)


@contextmanager
def buffered() -> Iterator[list[JournalEntry]]:
    """Collect entries written inside the block and insert them in bulk at its end (the relay's hot path);
    call `flush_buffer()` to write them earlier."""
    entries: list[JournalEntry] = []
    token = _buffer.set(entries)
    try:
        yield entries
    finally:
        _buffer.reset(token)
        _flush(entries)


def flush_buffer() -> int:
    """Write the entries buffered so far; returns how many there were."""
    entries = _buffer.get()
    if not entries:
        return 0
    count = len(entries)
    _flush(entries)
    return count


def _flush(entries: list[JournalEntry]) -> None:
    if not entries:
        return
    batch = entries[:]
    entries.clear()
    try:
        with transaction.atomic():
            copy_insert(JournalEntry, batch)  # COPY: bulk_create's client-side binding cost a lot
    except Exception:  # noqa: BLE001 - journaling must not break deliveries
        logger.exception("integration journal: could not write %d buffered entries", len(batch))


def write(exchange: Exchange, backend: Backend | None = None, correlation: Correlation | None = None) -> None:
    """Write one journal entry; never raises (the exchange itself matters more than its log line)."""
    try:
        entry = build_entry(exchange, backend, correlation or current_correlation())
        pending = _buffer.get()
        if pending is not None and not in_business_transaction():
            pending.append(entry)
            return
        # SQLite has one writer: a second connection would wait for our own transaction, so there the
        # entry goes with the caller's transaction.
        if in_business_transaction() and connection.vendor == "postgresql":
            _save_on_side_connection(entry)
        else:
            with transaction.atomic():  # a savepoint: a failed insert can't poison the caller's transaction
                entry.save(force_insert=True)
    except Exception:  # noqa: BLE001 - journaling must not break the exchange
        logger.exception("integration journal: could not write an entry for %s %s", exchange.method,
                         secrets.mask_url(exchange.url))


def journal_incoming(
    request,
    response,
    backend: Backend | None,
    correlation: models.Model | None = None,
    *,
    started: float | None = None,
) -> None:
    """Journal an incoming webhook/API call from a Django view: request + our response.

    `started` is a time.monotonic() taken when the view began (for the duration column).
    """
    duration_ms = int((time.monotonic() - started) * 1000) if started is not None else 0
    headers = {key: value for key, value in request.headers.items()}
    try:
        request_body = request.body
    except Exception:  # noqa: BLE001 - body already consumed as a stream
        request_body = b""
    response_body = b"" if getattr(response, "streaming", False) else getattr(response, "content", b"")
    write(
        Exchange(
            direction=JournalEntry.Direction.IN,
            method=request.method or "",
            url=request.build_absolute_uri(),
            status_code=getattr(response, "status_code", None),
            duration_ms=duration_ms,
            request_headers=headers,
            request_body=request_body,
            response_headers={key: value for key, value in response.items()} if response is not None else {},
            response_body=response_body,
        ),
        backend,
        correlation_for(correlation) if correlation is not None else None,
    )


def purge_journal(*, retention_days: int | None = None) -> int:
    """Delete entries older than the retention (settings.AMOERP["JOURNAL_RETENTION_DAYS"]), in batches;
    returns the count. Part of the nightly purge (integration.retention)."""
    from .retention import Budget, purge_journal_entries

    return purge_journal_entries(Budget(None), timezone.now(), retention_days=retention_days)[0]


def journal_url_for(obj: models.Model) -> str:
    """The admin URL of the journal filtered to the exchanges of `obj`."""
    from django.urls import reverse

    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return f"{reverse('admin:integration_journalentry_changelist')}?content_type__id__exact={content_type.pk}&object_id={obj.pk}"
