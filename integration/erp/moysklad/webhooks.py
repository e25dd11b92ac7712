"""MoySklad webhooks: `POST /hooks/moysklad/<secret>/?requestId=…` is stored in the inbox and answered at
once (MoySklad allows 1.5 s and retries 3 times with the same requestId, which deduplicates them).
The body only references entities: the inbox handler re-reads each one through the API and applies it."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from catalog.models import Product
from documents.errors import DocumentError
from integration import inbox, throttling
from integration.backends import backend_for_webhook_secret
from integration.erp.moysklad import catalog_sync, counterparty_sync, erp_changes, order_sync, stock_sync
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.erp.moysklad.mappers import MappingError, href_id, moment
from integration.errors import PermanentError
from integration.journal import journal_incoming
from integration.models import Backend, InboxMessage
from orders.errors import OrderError

logger = logging.getLogger(__name__)
SOURCE = "moysklad"
CATALOG_TYPES = ("product", "service", "bundle")
STOCK = "webhookstock"  # a stock announcement `{"stockType", "reportType", "reportUrl"}` as one pseudo-event


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    """Store and answer at once; a request MoySklad would not send is refused with 400 and the reason (never a 5xx,
    nothing stored, the journal keeps it)."""
    request._journal_started = timezone.now()
    if limited := throttling.webhook_ip_limit(request, "moysklad"):
        return limited
    backend = backend_for_webhook_secret(Backend.Kind.MOYSKLAD, secret)
    if backend is None:
        return HttpResponse(status=404)
    if limited := throttling.webhook_backend_limit("moysklad", backend.pk):
        return limited
    try:
        request_id = checked_request_id(inbox.query_param(request, "requestId"))
        body = inbox.webhook_body(request)
        parse_body(body)
    except inbox.BadWebhook as exc:
        return inbox.refuse_webhook(request, exc, backend)
    inbox.store_webhook(
        source=SOURCE,
        backend=backend,
        message_id=request_id,
        body=body,
        content_type=request.content_type or "",
        headers=dict(request.headers),
    )
    response = HttpResponse(status=200)
    journal_incoming(request, response, backend)
    return response


def checked_request_id(value: str | None) -> str | None:
    """MoySklad's requestId (a UUID): printable, at most 255 characters; absent → deduplicated by the body."""
    if not value:
        return None
    if len(value) > 255:
        raise inbox.BadWebhook("requestId", "longer than 255 characters")
    if not value.isprintable():
        raise inbox.BadWebhook("requestId", "contains control characters")
    return value


def parse_body(body: bytes) -> list[dict]:
    """The events of a webhook body `{"auditContext": …, "events": [{"meta": {…}, "action": …}, …]}`;
    BadWebhook (field, reason) for anything else."""
    if not body:
        raise inbox.BadWebhook("body", "empty")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise inbox.BadWebhook("body", f"not UTF-8 (byte {exc.start})") from exc
    except ValueError as exc:
        raise inbox.BadWebhook("body", f"not JSON: {exc}") from exc
    except RecursionError:
        raise inbox.BadWebhook("body", "nested too deep") from None
    if not isinstance(data, dict):
        raise inbox.BadWebhook("body", f"a JSON object expected, got {type(data).__name__}")
    if "reportUrl" in data:
        return [stock_announcement(data)]
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) and isinstance(e.get("meta"), dict) for e in events):
        raise inbox.BadWebhook("events", "a list of objects with `meta` expected")
    return events


def stock_announcement(data: dict) -> dict:
    """A `webhookstock` body as a pseudo-event carrying the announced `changedSince` (ISO); BadWebhook when the
    reportUrl names no MoySklad date-time."""
    url = data.get("reportUrl")
    if not isinstance(url, str):
        raise inbox.BadWebhook("reportUrl", "a string expected")
    values = parse_qs(urlsplit(url).query).get("changedSince") or [""]
    try:
        since = moment(values[0])
    except MappingError:
        since = None
    if since is None:
        raise inbox.BadWebhook("reportUrl", "no changedSince date-time")
    return {"meta": {"type": STOCK}, "changed_since": since.isoformat()}


@inbox.handler(SOURCE)
def process_webhook(message: InboxMessage) -> None:
    """Apply each referenced entity after re-reading it (catalog item, customer order, demand, payment)."""
    if message.backend is None:
        raise PermanentError("webhook without a backend")
    try:
        events = parse_body(bytes(message.body))
    except inbox.BadWebhook as exc:
        raise PermanentError(str(exc)) from exc
    backend = message.backend
    adapter = MoySkladAdapter(backend)
    for event in events:
        meta = event["meta"]
        if meta.get("type") == STOCK:
            stock_sync.refresh_changed_since(backend, datetime.fromisoformat(event["changed_since"]))
            continue
        kind, action = meta.get("type"), event.get("action")
        entity_id = href_id(meta.get("href") or "")
        if not kind or not entity_id:
            raise PermanentError(f"webhook event without meta.type/href: {event}")
        try:
            apply_event(backend, adapter, kind, action, entity_id)
        except (OrderError, DocumentError) as exc:  # the domain refuses it: retrying the same data cannot help
            raise PermanentError(f"{kind} {entity_id}: {exc}") from exc


def apply_event(backend: Backend, adapter: MoySkladAdapter, kind: str, action: str | None, entity_id: str) -> None:
    """Re-read one entity a webhook names and apply it."""
    if kind in CATALOG_TYPES:
        if action == "DELETE":
            Product.objects.filter(erp_id=entity_id, active=True).update(
                active=False, archived_at=timezone.now(), updated_at=timezone.now()
            )
        else:
            catalog_sync.upsert_product(backend, kind, entity_id)
    elif kind == "customerorder" and action != "DELETE":
        order_sync.apply_order(backend, adapter.get_order(entity_id))
    elif kind == "demand" and action != "DELETE":
        order_sync.apply_shipment(adapter.get_shipment(entity_id))
    elif kind == "paymentin" and action != "DELETE":
        order_sync.apply_payment(adapter.get_payment(entity_id))
    elif kind == "salesreturn" and action != "DELETE":
        erp_changes.apply_return(adapter, adapter.client.get(f"entity/salesreturn/{entity_id}"))
    elif kind == "counterparty" and action != "DELETE":
        counterparty_sync.apply_counterparty(backend, entity_id)
    else:
        logger.info("moysklad webhook %s %s %s ignored", kind, action, entity_id)
