"""Outgoing events of orders, written through the transactional outbox inside the business transaction."""

from __future__ import annotations

from integration import outbox
from integration.models import Backend
from orders.models import Order

ERP_KINDS = (Backend.Kind.MOYSKLAD, Backend.Kind.ONEC_ODATA, Backend.Kind.COMMERCEML)


def _active_backend(kinds) -> Backend | None:
    return Backend.objects.filter(kind__in=kinds, active=True).order_by("pk").first()


def _enqueue(kinds, topic: str, order: Order, payload: dict, key: str = ""):
    """Enqueue for the first active backend of these kinds; without one there is nobody to tell (None)."""
    backend = _active_backend(kinds)
    if backend is None:
        return None
    return outbox.enqueue(
        backend=backend, topic=topic, aggregate=order, payload={"order_id": order.pk, **payload},
        idempotency_key=key,
    )


def erp_order_upsert(order: Order):
    """Create/update the ERP order; the key is stable per cart version, so a retry never duplicates it.
    Not before the order has a counterparty (the ERP needs one): get_or_create_order_for_lead sends it
    once the lead's company or contact is known."""
    if order.counterparty_id is None:
        return None
    return _enqueue(ERP_KINDS, "erp.order.upsert", order, {"version": order.version},
                    f"{order.uuid}:v{order.version}")


def erp_order_cancel(order: Order):
    return _enqueue(ERP_KINDS, "erp.order.cancel", order, {"erp_id": order.erp_id or ""}, f"{order.uuid}:cancel")


def crm_lead_sync(order: Order):
    return _enqueue((Backend.Kind.AMOCRM,), "crm.lead.sync", order, {"lead_id": order.lead_id})


def crm_lead_products(order: Order):
    return _enqueue((Backend.Kind.AMOCRM,), "crm.lead.products", order, {"lead_id": order.lead_id})
