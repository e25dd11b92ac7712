"""`sale&mode=file` (and `sale&mode=import`): 1C's answers about our orders, applied as every ERP's are.

Each `<Документ>` «Заказ товара» with our order key as Ид (or our number) carries 1C's requisites: its number
(«Номер по 1С» / «Номер1С»), «Проведен» (posted: 1C made the reserve), «Статус заказа», «Отменен» /
«ПометкаУдаления», «Дата оплаты по 1С» + «Номер оплаты по 1С», «Дата отгрузки по 1С» + «Номер отгрузки по 1С»
(an empty date comes as "T"). They become an ErpOrder (orders.actions.apply_erp_order through the core's
apply_order), an ErpPayment and an ErpShipment (the core's apply_payment / apply_shipment), so the order, its
payments and shipments and then the deal move exactly as with the other ERPs. A document already applied
unchanged (its hash is the remote_version of the order's binding) writes nothing. The whole file is one transaction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from integration.erp.commerceml import parser
from integration.erp.importers.orders import apply_order, apply_payment, apply_shipment, local_order
from integration.erp.types import ErpOrder, ErpOrderLine, ErpPayment, ErpShipment, ErpShipmentLine
from integration.models import Backend, Binding, SyncRun
from integration.syncruns import sync_run
from orders.models import Order

ORDER_OPERATIONS = ("", "заказ товара")


def _date(value: str, where: str) -> datetime | None:
    """1C's «Дата …по 1С»: 2026-03-01, 2026-03-01T10:00:00, 01.03.2026 10:00:00; empty or "T" = none."""
    value = value.strip()
    if not value or value == "T":
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.get_current_timezone())
        except ValueError:
            continue
    raise parser.CmlFormatError(f"{where}: {value!r} is not a date")


def _find_order(doc: parser.Document) -> Order | None:
    order = local_order(None, doc.erp_id)
    if order is None and doc.number.isdigit():
        order = Order.objects.filter(pk=int(doc.number)).first()
    return order


def _doc_hash(doc: parser.Document) -> str:
    data = [doc.erp_id, doc.number, str(doc.total), sorted(doc.requisites.items()),
            [[line.product_erp_id, str(line.quantity), str(line.price)] for line in doc.lines]]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def _erp_order(order: Order, doc: parser.Document) -> ErpOrder:
    cancelled = parser.truthy(doc.requisite("Отменен")) or parser.truthy(doc.requisite("ПометкаУдаления"))
    posted = parser.truthy(doc.requisite("Проведен")) and not cancelled
    status = doc.requisite("Статус заказа")
    state = "Отменён" if cancelled else status or ("Проведён" if posted else "")
    lines = doc.lines or tuple(
        parser.DocumentLine(product_erp_id=line.product.erp_id or "", quantity=line.base_quantity,
                            price=line.base_price)
        for line in order.lines.select_related("product", "pack"))
    erp_lines = tuple(ErpOrderLine(
        erp_line_id=f"{n}", product_erp_id=line.product_erp_id, kind="goods", quantity=line.quantity,
        price=line.price, discount_percent=Decimal(0), vat_rate="", reserved=line.quantity if posted else Decimal(0),
        shipped=Decimal(0)) for n, line in enumerate(lines))
    return ErpOrder(
        erp_id=str(order.uuid), number=doc.requisite("Номер по 1С", "Номер1С") or order.erp_number, external_code=str(order.uuid),
        state=state[:128], state_type="Unsuccessful" if cancelled else "Regular", updated_at=timezone.now(),
        counterparty_erp_id=None, warehouse_erp_id=None, total=doc.total or order.total, vat_total=order.vat_total,
        paid_total=Decimal(0), shipped_total=Decimal(0), lines=erp_lines)


def _movement_id(order: Order, kind: str, key: str) -> str:
    """The ERP id of a payment or shipment 1C reports on the order (≤ 64 characters, stable per number/date)."""
    return f"1c:{kind}:" + hashlib.sha256(f"{order.uuid}:{key}".encode()).hexdigest()[:40]


def _apply(backend: Backend, order: Order, doc: parser.Document) -> None:
    where = f"Документ {doc.erp_id or doc.number}"
    paid_at = _date(doc.requisite("Дата оплаты по 1С"), f"{where}: Дата оплаты по 1С")
    shipped_at = _date(doc.requisite("Дата отгрузки по 1С"), f"{where}: Дата отгрузки по 1С")
    erp_order = _erp_order(order, doc)
    order = apply_order(backend, erp_order) or order
    if paid_at is not None:
        number = doc.requisite("Номер оплаты по 1С")
        apply_payment(ErpPayment(erp_id=_movement_id(order, "payment", number or paid_at.date().isoformat()), number=number,
                                 order_erp_id=erp_order.erp_id, paid_at=paid_at, amount=doc.total or order.total,
                                 purpose=f"1C: {number}".strip()))
    if shipped_at is not None:
        number = doc.requisite("Номер отгрузки по 1С")
        order.refresh_from_db()
        lines = tuple(ErpShipmentLine(product_erp_id=line.product.erp_id or "",
                                      quantity=line.base_quantity - line.shipped_quantity)
                      for line in order.lines.select_related("product"))
        apply_shipment(ErpShipment(erp_id=_movement_id(order, "shipment", number or shipped_at.date().isoformat()),
                                   number=number, order_erp_id=erp_order.erp_id, shipped_at=shipped_at,
                                   total=doc.total or order.total, lines=lines))


def import_documents(backend: Backend, path: Path) -> SyncRun:
    """Apply 1C's orders.xml; returns the sync run (kind "orders")."""
    content_type = ContentType.objects.get_for_model(Order)
    with sync_run(backend, "orders", SyncRun.Trigger.WEBHOOK, full=False) as run, transaction.atomic():
        for doc in parser.read(path):
            if not isinstance(doc, parser.Document):
                continue
            if doc.operation.lower() not in ORDER_OPERATIONS:
                run.skipped += 1  # payments and shipments as documents of their own: their dates come on the order
                continue
            order = _find_order(doc)
            if order is None:
                run.skipped += 1  # an order made in 1C alone: not ours to mirror
                continue
            # The order's binding (made when 1C acknowledged it) keeps the last applied answer's hash.
            hashed = _doc_hash(doc)
            binding = Binding.objects.filter(backend=backend, content_type=content_type, object_id=order.pk).first()
            if binding is not None and binding.remote_version == hashed:
                run.unchanged += 1
                continue
            _apply(backend, order, doc)
            if binding is None:  # an answer before the acknowledgement: the order is still handed out again
                Binding.objects.create(backend=backend, content_type=content_type, object_id=order.pk,
                                       external_id=str(order.uuid), remote_version=hashed, synced_at=timezone.now())
            else:
                Binding.objects.filter(pk=binding.pk).update(remote_version=hashed, synced_at=timezone.now())
            run.updated += 1
        run.details["file"] = path.name
        run.save(update_fields=["updated", "unchanged", "skipped", "details"])
    return run

