"""Outbox handlers for the ERP topics, delivered to MoySklad (registered with the connector in apps.py): the order
topics are the ERP core's (integration/erp/order_handlers.py); erp.document.request is MoySklad's own (print forms).
Each is idempotent: a redelivery finds what the previous attempt created."""

from __future__ import annotations

import uuid

from integration.erp.importers.orders import apply_order
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.errors import PermanentError, RetryableError
from integration.journal import correlate
from integration.models import Backend, OutboxEvent


def _adapter(event: OutboxEvent) -> MoySkladAdapter:
    if event.backend.kind != Backend.Kind.MOYSKLAD:
        raise PermanentError(f"topic {event.topic}: backend {event.backend.name} is not MoySklad")
    return MoySkladAdapter(event.backend)


def request_document(event: OutboxEvent) -> dict:
    from documents.actions import attach_erp_document
    from documents.models import Document

    adapter = _adapter(event)
    document = Document.objects.select_related("order").filter(pk=event.payload.get("document_id")).first()
    if document is None:
        raise PermanentError(
            f"payload.document_id: document {event.payload.get('document_id')} does not exist"
        )
    order = document.order
    with correlate(order):
        if not order.erp_id:
            raise RetryableError(f"order {order.uuid} is not in the ERP yet", retry_after=30)
        if document.kind == Document.Kind.INVOICE:
            # The ERP invoices its own order: take its composition first (the ERP wins), so an edit whose
            # webhook is late or lost does not make our totals differ from the invoice's.
            apply_order(event.backend, adapter.get_order(order.erp_id))
            erp_document = (
                document.erp_id
                and adapter.get_document("invoiceout", document.erp_id, "invoice")
                or adapter.create_invoice(order.erp_id, key=str(uuid.uuid5(order.uuid, f"document:{document.pk}")))
            )
            # …and again now that the invoice exists: a clerk may have edited the order meanwhile (the invoice's
            # own rows say whether it counts the edit; attach_erp_document checks its totals on them).
            apply_order(event.backend, adapter.get_order(order.erp_id))
            wire_kind = "invoice"
        else:
            shipments = [s for s in adapter.iter_shipments() if s.order_erp_id == order.erp_id]
            if not shipments:
                raise RetryableError(
                    f"order {order.erp_number or order.uuid} has no shipment (demand) yet", retry_after=300
                )
            erp_document = adapter.get_document("demand", shipments[-1].erp_id, document.kind)
            wire_kind = "demand"
        # Remember the ERP id first: a redelivery prints this document instead of creating another.
        Document.objects.filter(pk=document.pk).update(erp_id=erp_document.erp_id)
        pdf = adapter.fetch_document_pdf(wire_kind, erp_document.erp_id)
        attach_erp_document(
            document,
            number=erp_document.number,
            issued_on=erp_document.issued_on,
            total=erp_document.total,
            vat_total=erp_document.vat_total,
            pdf=pdf,
            erp_id=erp_document.erp_id,
            lines=erp_document.lines,
            vat_included=erp_document.vat_included,
        )
    return {"erp_id": erp_document.erp_id, "number": erp_document.number}

