"""MoySklad webhooks: `POST /hooks/moysklad/<secret>/?requestId=…` is stored in the inbox and answered at
once (MoySklad allows 1.5 s and retries 3 times with the same requestId, which deduplicates them).
The body only references entities: the inbox handler re-reads each one through the API and applies it."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from catalog.models import Product
from integration import inbox
from integration.backends import backend_for_webhook_secret
from integration.erp.moysklad import catalog_sync, order_sync
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.erp.moysklad.mappers import href_id
from integration.errors import PermanentError
from integration.journal import journal_incoming
from integration.models import Backend, InboxMessage

logger = logging.getLogger(__name__)
SOURCE = "moysklad"
CATALOG_TYPES = ("product", "service", "bundle")


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    request._journal_started = timezone.now()
    backend = backend_for_webhook_secret(Backend.Kind.MOYSKLAD, secret)
    if backend is None:
        return HttpResponse(status=404)
    inbox.store_webhook(
        source=SOURCE,
        backend=backend,
        message_id=request.GET.get("requestId") or None,
        body=request.body,
        content_type=request.content_type or "",
        headers=dict(request.headers),
    )
    response = HttpResponse(status=200)
    journal_incoming(request, response, backend)
    return response


@inbox.handler(SOURCE)
def process_webhook(message: InboxMessage) -> None:
    """Apply each referenced entity after re-reading it (catalog item, customer order, demand, payment)."""
    if message.backend is None:
        raise PermanentError("webhook without a backend")
    try:
        body = json.loads(bytes(message.body).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PermanentError(f"webhook body is not JSON: {exc}") from exc
    backend = message.backend
    adapter = MoySkladAdapter(backend)
    for event in body.get("events") or []:
        meta = event.get("meta") or {}
        kind, action = meta.get("type"), event.get("action")
        entity_id = href_id(meta.get("href") or "")
        if not kind or not entity_id:
            raise PermanentError(f"webhook event without meta.type/href: {event}")
        if kind in CATALOG_TYPES:
            if action == "DELETE":
                Product.objects.filter(erp_id=entity_id, active=True).update(
                    active=False, archived_at=timezone.now(), updated_at=timezone.now()
                )
            else:
                catalog_sync.upsert_product(backend, kind, entity_id)
        elif kind == "customerorder" and action != "DELETE":
            order_sync.apply_order(adapter.get_order(entity_id))
        elif kind == "demand" and action != "DELETE":
            order_sync.apply_shipment(adapter.get_shipment(entity_id))
        elif kind == "paymentin" and action != "DELETE":
            order_sync.apply_payment(adapter.get_payment(entity_id))
        else:
            logger.info("moysklad webhook %s %s %s ignored", kind, action, entity_id)
