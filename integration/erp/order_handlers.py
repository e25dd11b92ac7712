"""The ERP order topics, whatever the ERP: erp.order.upsert and erp.order.cancel (each connector registers them
for its kind). Idempotent: the adapter finds by our key what an earlier attempt created."""

from __future__ import annotations

from integration import connectors
from integration.erp.importers.orders import import_missing_products, snapshot
from integration.erp.order_push import build_push
from integration.errors import PermanentError
from integration.journal import correlate
from integration.models import OutboxEvent
from orders.models import Order


def event_order(event: OutboxEvent) -> Order:
    order_id = event.payload.get("order_id")
    order = Order.objects.select_related("counterparty", "warehouse").filter(pk=order_id).first()
    if order is None:
        raise PermanentError(f"payload.order_id: order {order_id} does not exist")
    return order


def upsert_order(event: OutboxEvent) -> dict:
    from orders.actions import apply_erp_order

    adapter = connectors.adapter_for(event.backend, role=connectors.Role.ERP)
    order = event_order(event)
    with correlate(order):
        erp_order = adapter.upsert_order(build_push(adapter, order))
        import_missing_products(event.backend, erp_order.lines, adapter=adapter)  # an ERP user may have added one
        apply_erp_order(order, snapshot(erp_order))
    return {"erp_id": erp_order.erp_id, "number": erp_order.number, "state": erp_order.state}


def cancel_order(event: OutboxEvent) -> dict:
    adapter = connectors.adapter_for(event.backend, role=connectors.Role.ERP)
    order = event_order(event)
    with correlate(order):
        erp_id = event.payload.get("erp_id") or order.erp_id or adapter.find_order_id(str(order.uuid))
        if not erp_id:
            return {"skipped": "the order never reached the ERP"}
        erp_order = adapter.cancel_order(erp_id)
        Order.objects.filter(pk=order.pk).update(erp_state=erp_order.state)
    return {"erp_id": erp_id, "state": erp_order.state}
