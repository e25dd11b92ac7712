"""MoySklad webhooks: `POST /hooks/moysklad/<secret>/?requestId=…` is stored in the inbox and answered at
once (MoySklad allows 1.5 s and retries 3 times with the same requestId, which deduplicates them).
The body only references entities: the inbox handler re-reads each one through the API and applies it."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
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
from integration.erp.importers import orders as order_sync
from integration.erp.moysklad import catalog_sync, counterparty_sync, erp_changes, stock_sync
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
APPLIED_DOCUMENTS = ("customerorder", "demand", "paymentin", "salesreturn", "counterparty")
ACTIONS = ("CREATE", "UPDATE", "DELETE", "PROCESSED")
KIND = re.compile(r"[a-z]{1,64}")
ENTITY_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# What became of an event (the handler's result, logged).
APPLIED, ARCHIVED, IGNORED = "applied", "archived: MoySklad answers 404", "ignored: not a type we apply"
STILL_THERE, NOT_FOUND = "ignored: deleted, yet MoySklad still has it", "nothing to archive: MoySklad answers 404"


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


@dataclass(frozen=True)
class EntityEvent:
    kind: str
    action: str
    entity_id: str


def entity_events(events: list[dict]) -> list[EntityEvent]:
    """The events as (kind, action, id); PermanentError naming the event for one MoySklad would not send.

    Only the id is taken from the href: the entity is read from the backend's own base URL, never from the host
    (or account) the href names."""
    checked = []
    for index, event in enumerate(events):
        meta = event["meta"]
        kind, action, href = meta.get("type"), event.get("action"), meta.get("href")
        if not isinstance(kind, str) or not KIND.fullmatch(kind):
            raise PermanentError(f"events[{index}].meta.type: {str(kind)[:50]!r} is not an entity type")
        if action not in ACTIONS:
            raise PermanentError(f"events[{index}].action: {str(action)[:50]!r} is not one of {', '.join(ACTIONS)}")
        entity_id = href_id(href) if isinstance(href, str) else ""
        if not ENTITY_ID.fullmatch(entity_id):
            raise PermanentError(f"events[{index}].meta.href: the entity id {entity_id[:50]!r} is not a UUID")
        checked.append(EntityEvent(kind, action, entity_id.lower()))
    return checked


@inbox.handler(SOURCE)
def process_webhook(message: InboxMessage) -> dict[str, str]:
    """Confirm each referenced entity by reading it from MoySklad, then apply it (catalog item, customer order,
    demand, payment); returns what became of each event. A malformed event rejects the message before any
    event is applied."""
    if message.backend is None:
        raise PermanentError("webhook without a backend")
    try:
        parsed = parse_body(bytes(message.body))
    except inbox.BadWebhook as exc:
        raise PermanentError(str(exc)) from exc
    backend = message.backend
    if parsed and parsed[0]["meta"]["type"] == STOCK:
        rows = stock_sync.refresh_changed_since(backend, datetime.fromisoformat(parsed[0]["changed_since"]))
        return {"stock": f"{rows} rows refreshed"}
    events = entity_events(parsed)
    adapter = MoySkladAdapter(backend)
    outcomes = {}
    for event in events:
        try:
            outcome = apply_event(backend, adapter, event)
        except (OrderError, DocumentError) as exc:  # the domain refuses it: retrying the same data cannot help
            raise PermanentError(f"{event.kind} {event.entity_id}: {exc}") from exc
        outcomes[f"{event.action} {event.kind}/{event.entity_id}"] = outcome
        logger.info("moysklad webhook %s %s %s: %s", event.action, event.kind, event.entity_id, outcome)
    return outcomes


def apply_event(backend: Backend, adapter: MoySkladAdapter, event: EntityEvent) -> str:
    """Read the entity an event names and apply what MoySklad says, not what the event says: a DELETE only when
    the read answers 404. Reading an entity MoySklad does not have (deleted since, another account's id) raises
    PermanentError, so the message is rejected with MoySklad's answer and nothing is applied."""
    kind, entity_id = event.kind, event.entity_id
    if kind not in CATALOG_TYPES + APPLIED_DOCUMENTS or (event.action == "DELETE" and kind not in CATALOG_TYPES):
        return IGNORED
    try:
        if event.action == "DELETE":
            adapter.client.get(f"entity/{kind}/{entity_id}")
            return STILL_THERE
        if kind in CATALOG_TYPES:
            catalog_sync.upsert_product(backend, kind, entity_id)
        elif kind == "customerorder":
            order_sync.apply_order(backend, adapter.get_order(entity_id))
        elif kind == "demand":
            order_sync.apply_shipment(adapter.get_shipment(entity_id))
        elif kind == "salesreturn":
            erp_changes.apply_return(adapter, adapter.client.get(f"entity/salesreturn/{entity_id}"))
        elif kind == "counterparty":
            counterparty_sync.apply_counterparty(backend, entity_id)
        else:
            order_sync.apply_payment(adapter.get_payment(entity_id))
    except PermanentError as exc:
        if not (exc.status == 404 and event.action == "DELETE"):
            raise  # e.g. an update of an entity MoySklad does not have: rejected with MoySklad's answer
        archived = Product.objects.filter(erp_id=entity_id, active=True).update(
            active=False, archived_at=timezone.now(), updated_at=timezone.now()
        )
        return ARCHIVED if archived else NOT_FOUND
    return APPLIED
