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
    """An invoice is made (or found) in 1C for its number; a УПД/ТОРГ-12 is of 1C's latest shipment of the order
    (recorded here first) and lists what that shipment took. 1C's standard OData has no print forms: the PDF is
    rendered here (attach_erp_document, pdf=None); our totals are checked on 1C's rows."""
    from documents.actions import attach_erp_document
    from documents.models import Document
    from integration.erp.importers.orders import apply_shipment
    from orders.models import Shipment

    adapter = OneCAdapter(event.backend)
    document = Document.objects.select_related("order").filter(pk=event.payload.get("document_id")).first()
    if document is None:
        raise PermanentError(f"payload.document_id: document {event.payload.get('document_id')} does not exist")
    order = document.order
    with correlate(order):
        if not order.erp_id:
            raise RetryableError(f"order {order.uuid} is not in 1C yet", retry_after=30)
        if document.kind == Document.Kind.INVOICE:
            erp = adapter.create_invoice(order.erp_id)
        else:
            shipments = [s for s in adapter.iter_shipments() if s.order_erp_id == order.erp_id]
            if not shipments:
                raise RetryableError(f"order {order.erp_number or order.uuid} is not shipped in 1C yet",
                                     retry_after=300)
            apply_shipment(shipments[-1])
            document.shipment = Shipment.objects.get(erp_id=shipments[-1].erp_id)
            erp = adapter.get_document("shipment", shipments[-1].erp_id, document.kind)
        Document.objects.filter(pk=document.pk).update(erp_id=erp.erp_id, shipment=document.shipment)
        attach_erp_document(document, number=erp.number, issued_on=erp.issued_on, total=erp.total,
                            vat_total=erp.vat_total, pdf=None, erp_id=erp.erp_id, lines=erp.lines,
                            vat_included=erp.vat_included)
    return {"erp_id": erp.erp_id, "number": erp.number}
