"""Replacements: goods shipped for an order that its lines do not list (a product sent in place of one that came
back). Each becomes a line of its own at the price it was shipped at, so the order keeps both movements and its
totals count what the client got; the shipment then rolls up onto that line like any other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Sum
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from documents.vat import line_amounts
from orders import events
from orders.errors import InvalidInput, OrderClosed
from orders.locks import lock_order
from orders.models import Order, OrderLine, WarehouseRule
from orders.pricing import base_prices, price_list_for
from orders.types import ErpOrderLine, ErpOrderSnapshot

ZERO = Decimal("0")


@dataclass(frozen=True)
class ShippedItem:
    product_id: int
    quantity_base: Decimal
    price: Decimal | None = None  # per base unit as shipped; None: the client's price list


def add_replacement_lines(order: Order, items: Sequence[ShippedItem]) -> list[OrderLine]:
    """Add a line for each shipped product the order lacks (quantities of one product summed); the order's
    totals follow and the deal's products are rewritten. Returns the lines added (none when all are listed)."""
    with transaction.atomic():
        order = lock_order(order.pk)
        listed = set(order.lines.values_list("product_id", flat=True))
        missing: dict[int, list[ShippedItem]] = {}
        for i, item in enumerate(items):
            if item.quantity_base <= 0:
                raise InvalidInput(_("The quantity must be greater than zero."), field=f"lines[{i}].quantity")
            if item.product_id not in listed:
                missing.setdefault(item.product_id, []).append(item)
        if not missing:
            return []
        if order.status == Order.Status.CANCELLED:
            raise OrderClosed(order)
        products = Product.objects.in_bulk(list(missing))
        listed_prices = base_prices(missing, price_list_for(order.counterparty))
        warehouse_id = order.lines.exclude(warehouse=None).values_list("warehouse_id", flat=True).first()
        position = (order.lines.aggregate(last=Max("position"))["last"] or 0) + 1
        added = []
        for product_id, shipped in missing.items():
            product = products[product_id]
            quantity = sum((item.quantity_base for item in shipped), ZERO)
            price = next((item.price for item in shipped if item.price is not None), None)
            price = listed_prices.get(product_id, ZERO) if price is None else price
            amounts = line_amounts(price=price, quantity=quantity, discount_percent=ZERO, vat_rate=product.vat_rate)
            added.append(OrderLine.objects.create(
                order=order, position=position, product=product, warehouse_id=warehouse_id,
                warehouse_rule=WarehouseRule.KEPT if warehouse_id else "", quantity=quantity,
                base_quantity=quantity, price=price, vat_rate=product.vat_rate, total=amounts.total,
                vat_amount=amounts.vat,
            ))
            position += 1
        sums = order.lines.aggregate(total=Sum("total"), vat=Sum("vat_amount"))
        order.total, order.vat_total = sums["total"] or ZERO, sums["vat"] or ZERO
        order._change_reason = "replacement shipped"
        order.save()
        events.crm_lead_products(order)
    return added


def keep_replacements(order: Order, snapshot: ErpOrderSnapshot) -> ErpOrderSnapshot:
    """The ERP's order lists only what was ordered: lines of ours that shipped (replacements) and that its
    positions lack are kept as they are when the ERP's order is applied, instead of being dropped."""
    listed = {line.product_id for line in snapshot.lines}
    kept = [
        ErpOrderLine(product_id=line.product_id, quantity_base=line.base_quantity, price=line.base_price,
                     discount_percent=line.discount_percent)
        for line in order.lines.select_related("pack").filter(shipped_quantity__gt=0).order_by("position", "pk")
        if line.product_id not in listed
    ]
    return replace(snapshot, lines=[*snapshot.lines, *kept]) if kept else snapshot
