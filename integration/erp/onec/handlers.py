"""Outbox handlers for the ERP topics, delivered to 1C: erp.order.upsert, erp.order.cancel, erp.document.request.

Each is idempotent: the adapter finds by our key what an earlier attempt created. Building the push from our
order and mirroring 1C's answer are the ERP core's (integration/erp/order_push.py, importers/orders.py).
"""

from __future__ import annotations

from integration.erp.importers.orders import import_missing_products, snapshot
from integration.erp.onec.adapter import OneCAdapter
from integration.erp.order_push import build_push
from integration.errors import PermanentError, RetryableError
from integration.journal import correlate
from integration.models import OutboxEvent
from orders.models import Order


def _order(event: OutboxEvent) -> Order:
    order = Order.objects.select_related("counterparty", "warehouse").filter(pk=event.payload.get("order_id")).first()
    if order is None:
        raise PermanentError(f"payload.order_id: order {event.payload.get('order_id')} does not exist")
    return order


def upsert_order(event: OutboxEvent) -> dict:
    from orders.actions import apply_erp_order

    adapter = OneCAdapter(event.backend)
    order = _order(event)
    with correlate(order):
        erp_order = adapter.upsert_order(build_push(adapter, order))
        import_missing_products(event.backend, erp_order.lines, adapter=adapter)  # a 1C user may have added one
        apply_erp_order(order, snapshot(erp_order))
    return {"erp_id": erp_order.erp_id, "number": erp_order.number, "state": erp_order.state}


def cancel_order(event: OutboxEvent) -> dict:
    adapter = OneCAdapter(event.backend)
    order = _order(event)
    with correlate(order):
        erp_id = event.payload.get("erp_id") or order.erp_id
        if not erp_id:
            existing = adapter.find_order(str(order.uuid))
            if existing is None:
                return {"skipped": "the order never reached 1C"}
            erp_id = existing["Ref_Key"]
        erp_order = adapter.cancel_order(erp_id)
        Order.objects.filter(pk=order.pk).update(erp_state=erp_order.state)
    return {"erp_id": erp_id, "state": erp_order.state}


def request_document(event: OutboxEvent) -> dict:
    """An invoice is made (or found) in 1C for its number; a УПД/ТОРГ-12 takes the shipment's number. 1C's
    standard OData has no print forms: the PDF is rendered here from the order (attach_erp_document, pdf=None)."""
    from documents.actions import attach_erp_document
    from documents.models import Document

    adapter = OneCAdapter(event.backend)
    document = Document.objects.select_related("order").filter(pk=event.payload.get("document_id")).first()
    if document is None:
        raise PermanentError(f"payload.document_id: document {event.payload.get('document_id')} does not exist")
    order = document.order
    with correlate(order):
        if not order.erp_id:
            raise RetryableError(f"order {order.uuid} is not in 1C yet", retry_after=30)
        total = document.total
        if document.kind == Document.Kind.INVOICE:
            erp = adapter.create_invoice(order.erp_id)
            number, issued_on, erp_id, total = erp.number, erp.issued_on, erp.erp_id, erp.total
        else:
            shipments = [s for s in adapter.iter_shipments() if s.order_erp_id == order.erp_id]
            if not shipments:
                raise RetryableError(f"order {order.erp_number or order.uuid} is not shipped in 1C yet",
                                     retry_after=300)
            number, issued_on, erp_id = shipments[-1].number, shipments[-1].shipped_at.date(), shipments[-1].erp_id
        Document.objects.filter(pk=document.pk).update(erp_id=erp_id)
        # 1C's invoice total is checked against ours; its VAT is not read (a per-row sum in 1C): ours is kept.
        attach_erp_document(document, number=number, issued_on=issued_on, total=total,
                            vat_total=document.vat_total, pdf=None, erp_id=erp_id)
    return {"erp_id": erp_id, "number": number}


