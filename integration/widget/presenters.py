"""The order as the widget shows it: lines, reserves, conflicts, documents, payments, shipments, a timeline."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from documents.models import Document, Payment
from integration.erp.services import reserve_note
from integration.models import Conflict
from orders.models import Order, Reservation, Shipment
from orders.types import ReserveResult

ACTIVE = (Reservation.Status.PENDING, Reservation.Status.CONFIRMED)


def pdf_url(document: Document) -> str | None:
    if document.status != Document.Status.ISSUED or not document.pdf or not document.order.lead_id:
        return None
    return reverse("widget:document-pdf", args=[document.order.lead_id, document.pk])


def document(d: Document) -> dict:
    return {"id": d.pk, "kind": d.kind, "status": d.status, "number": d.number, "issued_on": d.issued_on,
            "total": d.total, "vat_total": d.vat_total, "pdf_url": pdf_url(d), "error": d.error,
            "valid_until": d.valid_until}


def order_detail(order: Order) -> dict:
    lines = list(order.lines.select_related("product").order_by("position"))
    reservations = list(order.reservations.order_by("pk"))
    line_products = {line.pk: line.product_id for line in lines}
    held: dict[int, Decimal] = defaultdict(Decimal)  # kits hold components: shown on the reservations only
    for res in reservations:
        if res.status in ACTIVE and line_products.get(res.line_id) == res.product_id:
            held[res.line_id] += res.quantity
    approvals = list(order.approvals.select_related("decided_by").order_by("pk"))
    conflicts = list(
        Conflict.objects.filter(content_type=ContentType.objects.get_for_model(Order), object_id=order.pk)
        .order_by("pk")
    )
    documents = list(Document.objects.filter(order=order).select_related("order").order_by("pk"))
    payments = list(Payment.objects.filter(order=order).order_by("paid_at", "pk"))
    shipments = list(Shipment.objects.filter(order=order).prefetch_related("lines").order_by("shipped_at", "pk"))
    return {
        "id": order.pk, "lead_id": order.lead_id, "uuid": order.uuid, "status": order.status,
        "status_display": str(order.get_status_display()), "payment_status": order.payment_status,
        "erp_id": order.erp_id, "erp_number": order.erp_number, "erp_state": order.erp_state,
        "currency": order.currency, "price_list": order.price_list.code if order.price_list_id else None,
        "delivery_address": order.delivery_address, "comment": order.comment, "total": order.total,
        "vat_total": order.vat_total, "version": order.version, "erp_pending_reason": order.erp_pending_reason,
        "lines": [
            {
                "id": line.pk, "position": line.position, "product_id": line.product_id,
                "article": line.product.article, "name": line.product.name, "warehouse_id": line.warehouse_id,
                "warehouse_rule": line.warehouse_rule,
                "batch_id": line.batch_id, "pack_id": line.pack_id, "quantity": line.quantity,
                "base_quantity": line.base_quantity, "price": line.price, "discount_percent": line.discount_percent,
                "vat_rate": line.vat_rate, "total": line.total, "vat_amount": line.vat_amount,
                "reserved": held.get(line.pk, Decimal("0")), "shipped_quantity": line.shipped_quantity,
                "returned_quantity": line.returned_quantity,
            }
            for line in lines
        ],
        "reservations": [
            {"id": r.pk, "line_id": r.line_id, "product_id": r.product_id, "warehouse_id": r.warehouse_id,
             "batch_id": r.batch_id, "quantity": r.quantity, "status": r.status, "automatic": r.automatic}
            for r in reservations
        ],
        "approvals": [
            {"id": a.pk, "status": a.status, "shortage": a.shortage, "requested_by": a.requested_by,
             "decided_by": (str(a.decided_by) if a.decided_by else
                            (f"amocrm-user-{a.decided_by_crm_user}" if a.decided_by_crm_user else None)),
             "reason": a.reason, "created_at": a.created_at, "decided_at": a.decided_at}
            for a in approvals
        ],
        "conflicts": [
            {"id": c.pk, "field": c.field, "erp_value": c.erp_value, "crm_value": c.crm_value, "policy": c.policy,
             "status": c.status, "created_at": c.created_at}
            for c in conflicts
        ],
        "documents": [document(d) for d in documents],
        "payments": [{"id": p.pk, "number": p.number, "paid_at": p.paid_at, "amount": p.amount} for p in payments],
        "shipments": [
            {"id": s.pk, "number": s.number, "shipped_at": s.shipped_at, "is_return": s.is_return,
             "lines": [{"product_id": sl.product_id, "quantity": sl.quantity} for sl in s.lines.all()]}
            for s in shipments
        ],
        "timeline": timeline(order, approvals, documents, payments, shipments),
    }


def timeline(order: Order, approvals, documents, payments, shipments) -> list[dict]:
    entries = []
    for record in order.history.order_by("history_date", "history_id")[:200]:
        entries.append({"at": record.history_date, "event": "order",
                        "detail": f"{record.get_status_display()} · v{record.version}"
                                  + (f" · {record.history_change_reason}" if record.history_change_reason else "")})
    for a in approvals:
        entries.append({"at": a.created_at, "event": "approval_requested", "detail": a.requested_by})
        if a.decided_at:
            entries.append({"at": a.decided_at, "event": f"approval_{a.status}", "detail": a.reason})
    for d in documents:
        entries.append({"at": d.requested_at, "event": "document_requested", "detail": d.get_kind_display()})
        if d.issued_at:
            entries.append({"at": d.issued_at, "event": "document_issued", "detail": f"{d.get_kind_display()} {d.number}"})
    for p in payments:
        entries.append({"at": p.paid_at, "event": "payment", "detail": f"{p.number} {p.amount}"})
    for s in shipments:
        entries.append({"at": s.shipped_at, "event": "return" if s.is_return else "shipment",
                        "detail": s.number or str(s.pk)})
    entries.sort(key=lambda e: e["at"])
    return entries


def cart_result(result: ReserveResult, order: Order) -> dict:
    return {
        "status": order.status, "erp_number": order.erp_number, "version": order.version,
        "reserve_note": reserve_note(order),
        "lines": [
            {"index": r.index, "product_id": r.product_id, "warehouse_id": r.warehouse_id, "batch_id": r.batch_id,
             "requested": r.requested, "reserved": r.reserved, "short": r.short}
            for r in result.lines
        ],
        "order": order_detail(order),
    }
