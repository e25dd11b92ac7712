"""`sale&mode=file` (and `sale&mode=import`): 1C's answers about our orders, applied as every ERP's are.

Each `<Документ>` «Заказ товара» with our order key as Ид (or our number) carries 1C's requisites: its number
(«Номер по 1С» / «Номер1С»), «Проведен» (posted: 1C made the reserve), «Статус заказа», «Отменен» /
«ПометкаУдаления», «Дата оплаты по 1С» + «Номер оплаты по 1С», «Дата отгрузки по 1С» + «Номер отгрузки по 1С»
(an empty date comes as "T"). They become an ErpOrder (orders.actions.apply_erp_order through the core's
apply_order), an ErpPayment and an ErpShipment (the core's apply_payment / apply_shipment), so the order, its
payments and shipments and then the deal move exactly as with the other ERPs. A document already applied
unchanged (its hash is the remote_version of the order's binding) writes nothing. The whole file is one transaction.

1C may also send the payments and shipments themselves — as documents of their own («Выплата безналичных
денег», «Выплата наличных денег», «Эквайринговая операция», «Отпуск товара») naming the order in <Основание>, or
(2.10) inside the order's <ПодчиненныеДокументы>. Those are the facts — a part payment's own amount, a partial
shipment's own rows — so they are applied first, keyed by their number; the order's requisites naming the same
number («Номер оплаты по 1С») then find them recorded and change nothing.
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

from documents.models import Payment
from integration.erp.commerceml import parser
from integration.erp.importers.orders import apply_order, apply_payment, apply_shipment, local_order
from integration.erp.types import ErpOrder, ErpOrderLine, ErpPayment, ErpShipment, ErpShipmentLine
from integration.models import Backend, Binding, SyncRun
from integration.syncruns import sync_run
from orders.models import Order, Shipment

ORDER_OPERATIONS = ("", "заказ товара")
PAYMENT_OPERATIONS = ("выплата безналичных денег", "выплата наличных денег", "эквайринговая операция")
SHIPMENT_OPERATIONS = ("отпуск товара",)


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


def _order_of(basis: str) -> Order | None:
    """The order a payment or shipment names: our key, our number, or 1C's number of it."""
    basis = basis.strip()
    if not basis:
        return None
    order = local_order(None, basis)
    if order is None and basis.isdigit():
        order = Order.objects.filter(pk=int(basis)).first()
    return order or Order.objects.filter(erp_number=basis).order_by("pk").first()


def _doc_hash(doc: parser.Document) -> str:
    def facts(d: parser.Document) -> list:
        return [d.erp_id, d.number, d.operation, d.dated, str(d.total), sorted(d.requisites.items()),
                [[line.product_erp_id, str(line.quantity), str(line.price)] for line in d.lines]]

    data = [facts(doc), [facts(sub) for sub in doc.subordinates]]
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


def _remaining(order: Order) -> tuple[ErpShipmentLine, ...]:
    order.refresh_from_db()
    return tuple(ErpShipmentLine(product_erp_id=line.product.erp_id or "",
                                 quantity=line.base_quantity - line.shipped_quantity)
                 for line in order.lines.select_related("product"))


def _is_movement(doc: parser.Document) -> bool:
    return doc.operation.lower() in PAYMENT_OPERATIONS + SHIPMENT_OPERATIONS


def _apply_movement(order: Order, doc: parser.Document) -> bool:
    """A payment or shipment 1C made on the order, once per its number; one not posted or marked for deletion is
    neither money nor goods yet and is left."""
    if parser.truthy(doc.requisite("ПометкаУдаления")) or doc.requisite("Проведен").lower() == "false":
        return False
    where = f"Документ {doc.erp_id or doc.number}"
    when = _date(doc.dated, f"{where}: Дата") or timezone.now()
    key = doc.number or doc.erp_id
    if doc.operation.lower() in PAYMENT_OPERATIONS:
        if not doc.total:
            raise parser.CmlFormatError(f"{where}: a payment without Сумма")
        return apply_payment(ErpPayment(erp_id=_movement_id(order, "payment", key), number=doc.number,
                                        order_erp_id=order.erp_id or str(order.uuid), paid_at=when, amount=doc.total,
                                        purpose=f"1C: {doc.number}".strip()), order=order)
    lines = tuple(ErpShipmentLine(product_erp_id=line.product_erp_id, quantity=line.quantity, price=line.price)
                  for line in doc.lines) or _remaining(order)
    return apply_shipment(ErpShipment(erp_id=_movement_id(order, "shipment", key), number=doc.number,
                                      order_erp_id=order.erp_id or str(order.uuid), shipped_at=when,
                                      total=doc.total or Decimal(0), lines=lines), order=order)


def _apply(backend: Backend, order: Order, doc: parser.Document) -> None:
    where = f"Документ {doc.erp_id or doc.number}"
    paid_at = _date(doc.requisite("Дата оплаты по 1С"), f"{where}: Дата оплаты по 1С")
    shipped_at = _date(doc.requisite("Дата отгрузки по 1С"), f"{where}: Дата отгрузки по 1С")
    erp_order = _erp_order(order, doc)
    order = apply_order(backend, erp_order) or order
    for sub in doc.subordinates:
        if _is_movement(sub):
            _apply_movement(order, sub)
    if paid_at is not None:
        number = doc.requisite("Номер оплаты по 1С")
        erp_id = _movement_id(order, "payment", number or paid_at.date().isoformat())
        if not Payment.objects.filter(erp_id=erp_id).exists():  # the payment's own document came: it holds
            apply_payment(ErpPayment(erp_id=erp_id, number=number, order_erp_id=erp_order.erp_id, paid_at=paid_at,
                                     amount=doc.total or order.total, purpose=f"1C: {number}".strip()))
    if shipped_at is not None:
        number = doc.requisite("Номер отгрузки по 1С")
        erp_id = _movement_id(order, "shipment", number or shipped_at.date().isoformat())
        if not Shipment.objects.filter(erp_id=erp_id).exists():
            apply_shipment(ErpShipment(erp_id=erp_id, number=number, order_erp_id=erp_order.erp_id,
                                       shipped_at=shipped_at, total=doc.total or order.total,
                                       lines=_remaining(order)))


def import_documents(backend: Backend, path: Path) -> SyncRun:
    """Apply 1C's orders.xml; returns the sync run (kind "orders")."""
    content_type = ContentType.objects.get_for_model(Order)
    with sync_run(backend, "orders", SyncRun.Trigger.WEBHOOK, full=False) as run, transaction.atomic():
        # Payments and shipments sent as documents of their own first: the orders' requisites then find them.
        for doc in parser.read(path):
            if not isinstance(doc, parser.Document) or not _is_movement(doc):
                continue
            order = _order_of(doc.basis)
            if order is None or not _apply_movement(order, doc):
                run.skipped += 1  # of an order made in 1C alone, or not posted
                continue
            run.updated += 1
        for doc in parser.read(path):
            if not isinstance(doc, parser.Document) or _is_movement(doc):
                continue
            if doc.operation.lower() not in ORDER_OPERATIONS:
                run.skipped += 1  # invoices, returns, …: not ours to mirror
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

