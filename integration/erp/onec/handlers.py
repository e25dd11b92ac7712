"""Outbox handlers for the ERP topics, delivered to 1C: the order topics are the ERP core's
(integration/erp/order_handlers.py); erp.document.request is 1C's own (no print forms: the PDF is rendered here).
Each is idempotent: the adapter finds by our key what an earlier attempt created.
"""

from __future__ import annotations

from integration.erp.onec.adapter import OneCAdapter
from integration.errors import PermanentError, RetryableError
from integration.journal import correlate
from integration.models import OutboxEvent


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


