"""ERP → platform order flow, for any ERP adapter: customer orders (the ERP wins), shipments and payments.

Used by the `orders` sync (by the ERP's change cursor, or everything where the connector keeps none) and by the
connectors' webhook handlers (one entity at a time). Documents
can arrive before what they reference: a product an order names that the catalog doesn't have yet is imported
from the ERP at once; when that fails for a transient reason the document is retried later, never dropped.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q

from catalog.models import Product
from documents.errors import DocumentError
from integration import connectors
from integration.erp import types as erp_types
from integration.erp.importers.catalog import cursor_name, erp_adapter, import_product, note_error
from integration.erp.importers.cursors import get_cursor, set_cursor
from integration.erp.protocol import ErpAdapter
from integration.erp.types import ErpOrder, ErpPayment, ErpShipment
from integration.errors import IntegrationError, RetryableError
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run
from orders.errors import OrderError
from orders.models import Order, Shipment
from orders.types import ErpOrderLine, ErpOrderSnapshot, ShipmentInput, ShipmentLineInput

OVERLAP = timedelta(minutes=2)


class ProductNotInCatalog(RetryableError):
    """An ERP document names a product the catalog doesn't have (yet): the document is retried later."""


def product_pks(erp_ids) -> dict[str, int]:
    """{ERP id: our product} for the order flow; a duplicate merged into another product (catalog.merge) whose
    ERP record lives on stands for the product it was merged into, where its lines went."""
    rows = Product.objects.filter(erp_id__in=set(erp_ids)).values_list("erp_id", "pk", "merged_into_id")
    return {erp_id: merged_into or pk for erp_id, pk, merged_into in rows}


def local_order(erp_order_id: str | None, external_code: str = "") -> Order | None:
    """Our order for an ERP order: by ERP id, or by externalCode = our Order.uuid."""
    query = Q(erp_id=erp_order_id) if erp_order_id else Q(pk__in=[])
    try:
        query |= Q(uuid=uuid.UUID(external_code))
    except ValueError:
        pass  # an order created in the ERP by hand carries its own code
    return Order.objects.filter(query).first()


def import_missing_products(
    backend: Backend, lines: tuple[erp_types.ErpOrderLine, ...], *, adapter: ErpAdapter | None = None
) -> list[str]:
    """Import from the ERP, at once, the products these lines name that the catalog doesn't have yet (an order
    edited in the ERP can name a product created after the last catalog sync); returns their ERP ids."""
    known = set(product_pks(line.product_erp_id for line in lines))
    imported: list[str] = []
    for line in lines:
        if line.product_erp_id and line.product_erp_id not in known:
            adapter = adapter or erp_adapter(backend)
            import_product(backend, adapter.fetch_product(line.kind, line.product_erp_id), adapter=adapter)
            known.add(line.product_erp_id)
            imported.append(line.product_erp_id)
    return imported


def snapshot(order: ErpOrder) -> ErpOrderSnapshot:
    products = product_pks(line.product_erp_id for line in order.lines)
    lines = []
    for line in order.lines:
        pk = products.get(line.product_erp_id)
        if pk is None:
            raise ProductNotInCatalog(
                f"order {order.number}: product {line.product_erp_id} is not in the catalog yet"
            )
        lines.append(
            ErpOrderLine(
                product_id=pk,
                quantity_base=line.quantity,
                price=line.price,
                reserved=line.reserved,
                discount_percent=line.discount_percent,
            )
        )
    return ErpOrderSnapshot(
        erp_id=order.erp_id, number=order.number, state=order.state, lines=lines, updated_at=order.updated_at
    )


def apply_order(backend: Backend, order: ErpOrder) -> Order | None:
    from orders.actions import apply_erp_order

    local = local_order(order.erp_id, order.external_code)
    if local is None:
        return None  # an order created in the ERP alone: not ours to mirror
    from orders.replacements import keep_replacements

    import_missing_products(backend, order.lines)
    return apply_erp_order(local, keep_replacements(local, snapshot(order)))


def apply_shipment(shipment: ErpShipment, *, order: Order | None = None) -> bool:
    """A shipment of our order (found by its ERP id unless the caller knows it), once per ERP id; a product the
    order does not list (a replacement) is added as a line of its own first, in the same transaction."""
    from orders.actions import register_shipment
    from orders.replacements import ShippedItem, add_replacement_lines

    order = order or local_order(shipment.order_erp_id)
    if order is None:
        return False
    products = product_pks(line.product_erp_id for line in shipment.lines)
    shipped = [line for line in shipment.lines if line.product_erp_id in products and line.quantity > 0]
    lines = [
        ShipmentLineInput(product_id=products[line.product_erp_id], quantity_base=line.quantity) for line in shipped
    ]
    with transaction.atomic():
        if not Shipment.objects.filter(erp_id=shipment.erp_id).exists():
            add_replacement_lines(order, [
                ShippedItem(products[line.product_erp_id], line.quantity, line.price) for line in shipped
            ])
        register_shipment(
            order,
            ShipmentInput(
                shipped_at=shipment.shipped_at, lines=lines, erp_id=shipment.erp_id, number=shipment.number
            ),
        )
    return True


def apply_payment(payment: ErpPayment, *, order: Order | None = None) -> bool:
    from documents.actions import register_payment
    from documents.types import PaymentInput

    order = order or local_order(payment.order_erp_id)
    if order is None:
        return False
    register_payment(
        PaymentInput(
            amount=payment.amount,
            paid_at=payment.paid_at,
            erp_id=payment.erp_id,
            number=payment.number,
            purpose=payment.purpose,
            order_id=order.pk,
            order_erp_id=payment.order_erp_id,
        )
    )
    return True


def sync_orders(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    adapter = erp_adapter(backend)
    incremental_cursor = connectors.capabilities_for(backend).incremental_cursor
    cursor = None if full or not incremental_cursor else get_cursor(backend, cursor_name(backend, "orders"))
    since = cursor - OVERLAP if cursor else None
    with sync_run(backend, "orders", full=since is None, dry_run=dry_run) as run:
        newest = cursor
        held = None  # the oldest record that failed for a transient reason: the next run reads it again

        def apply(record, fn, label: str) -> None:
            nonlocal newest, held
            newest = max(filter(None, (newest, record.updated_at)), default=None)
            if dry_run:
                run.skipped += 1
                return
            try:
                applied = fn(record)
            except RetryableError as exc:
                note_error(run, f"{label} {record.erp_id}: {exc}")
                held = min(filter(None, (held, record.updated_at)), default=None)
                return
            except (
                IntegrationError,
                OrderError,
                DocumentError,
            ) as exc:  # one bad record must not hold back the others
                note_error(run, f"{label} {record.erp_id}: {exc}")
                return
            if applied:
                run.updated += 1
            else:
                run.skipped += 1

        for page in adapter.iter_orders(since=since):
            for order in page:
                apply(order, lambda record: apply_order(backend, record), "customerorder")
        for shipment in adapter.iter_shipments(since=since):
            apply(shipment, apply_shipment, "demand")
        for payment in adapter.iter_payments(since=since):
            apply(payment, apply_payment, "paymentin")
        run.save(update_fields=["updated", "skipped", "failed", "details"])
        if newest and not dry_run and incremental_cursor:
            set_cursor(backend, cursor_name(backend, "orders"), min(newest, held) if held else newest)
    return run
