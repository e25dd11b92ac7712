"""The outbox topics this connector delivers (registered with the connector in apps.py) and the inbox source
it processes."""

from __future__ import annotations

from typing import Any

from integration import inbox
from integration.amocrm.attachments import attach_document
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import (
    leads_waiting_for,
    orders_waiting_for_a_party,
    push_order_to_lead,
    push_products_to_lead,
    sync_lead,
)
from integration.amocrm.parties import resolve_party
from integration.amocrm.webhooks import parse_bracket_body, webhook_events
from integration.errors import PermanentError

SOURCE = "amocrm"
LEAD_ACTIONS = {"add", "update", "status", "restore", "responsible"}
PARTY_ACTIONS = {"add", "update", "restore"}


def deliver_lead_sync(event) -> dict[str, Any]:
    return push_order_to_lead(event.backend, int(event.payload["order_id"]))


def deliver_lead_products(event) -> dict[str, Any]:
    return push_products_to_lead(event.backend, int(event.payload["order_id"]))


def deliver_document(event) -> dict[str, Any]:
    return attach_document(event.backend, int(event.payload["document_id"]))


@inbox.handler(SOURCE)
def process_webhook(message) -> dict[str, Any]:
    """Re-read what the webhook names (webhooks are unsigned hints) and apply it."""
    if message.backend is None:
        raise PermanentError("amoCRM webhook without a backend")
    events = webhook_events(parse_bracket_body(bytes(message.body)))
    client = AmoCrmClient(message.backend)
    outcomes: dict[str, Any] = {}
    for lead_id in dict.fromkeys(e.id for e in events if e.entity == "leads" and e.action in LEAD_ACTIONS and e.id):
        outcomes[f"lead:{lead_id}"] = sync_lead(message.backend, lead_id, client=client).outcome
    for entity, entity_id in dict.fromkeys((e.entity, e.id) for e in events
                                           if e.entity in {"companies", "contacts"} and e.action in PARTY_ACTIONS
                                           and e.id):
        # One read: with its deals when some order waits for a counterparty (the ИНН was just corrected, say).
        waiting = orders_waiting_for_a_party().exists()
        raw = client.get_entity(entity, entity_id, *(("leads",) if waiting else ()))
        if raw is None:  # deleted in amoCRM meanwhile
            outcomes[f"{entity}:{entity_id}"] = None
            continue
        resolution = resolve_party(client, message.backend, entity, entity_id, create=False, raw=raw)
        outcomes[f"{entity}:{entity_id}"] = resolution.counterparty.pk if resolution.counterparty else None
        for lead_id in leads_waiting_for(raw) if waiting else ():
            outcomes[f"lead:{lead_id}"] = sync_lead(message.backend, lead_id, client=client).outcome
    return outcomes
