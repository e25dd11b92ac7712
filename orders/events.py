"""Outgoing events of orders, written through the transactional outbox inside the business transaction."""

from __future__ import annotations

from integration import connectors, outbox
from orders.models import Order


def _enqueue(role: connectors.Role, topic: str, order: Order, payload: dict, key: str = "", *, latest: bool = False):
    """Enqueue for the active backend of this role (the registry's); without one there is nobody to tell (None).
    `latest`: the handler sends the order as it is at delivery, so a change rides on an event that still waits."""
    backend = connectors.active_backend(role)
    if backend is None:
        return None
    payload = {"order_id": order.pk, **payload}
    if latest:
        return outbox.enqueue_latest(backend=backend, topic=topic, aggregate=order, payload=payload)
    return outbox.enqueue(backend=backend, topic=topic, aggregate=order, payload=payload, idempotency_key=key)


def erp_order_upsert(order: Order):
    """Create/update the ERP order; the key is stable per cart version, so a retry never duplicates it.
    Not before the order has a counterparty (the ERP needs one): get_or_create_order_for_lead sends it
    once the lead's company or contact is known."""
    if order.counterparty_id is None:
        return None
    return _enqueue(connectors.Role.ERP, "erp.order.upsert", order, {"version": order.version},
                    f"{order.uuid}:v{order.version}")


def erp_order_cancel(order: Order):
    return _enqueue(connectors.Role.ERP, "erp.order.cancel", order, {"erp_id": order.erp_id or ""}, f"{order.uuid}:cancel")


def crm_lead_sync(order: Order):
    return _enqueue(connectors.Role.CRM, "crm.lead.sync", order, {"lead_id": order.lead_id}, latest=True)


def crm_lead_products(order: Order):
    return _enqueue(connectors.Role.CRM, "crm.lead.products", order, {"lead_id": order.lead_id}, latest=True)
