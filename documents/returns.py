"""Returns by quantity: a return document lists what came back in one return movement (not the whole order),
each line's amounts the same share of the order line's as the quantity returned; and the order's figures net of
everything returned so far."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .vat import LineAmounts, round_money, sum_amounts

ZERO = Decimal("0")


@dataclass(frozen=True)
class MovedLine:
    """Duck-types an order line for the document renderer: the part of one order line that moved."""

    pk: None
    product: object
    pack: None
    pack_id: None
    quantity: Decimal  # base units
    base_quantity: Decimal
    price: Decimal  # per base unit, as agreed (VAT included)
    discount_percent: Decimal
    vat_rate: str


def _share(amounts: LineAmounts, part: Decimal, whole: Decimal) -> LineAmounts:
    total = round_money(amounts.total * part / whole)
    vat = round_money(amounts.vat * part / whole)
    return LineAmounts(total=total, vat=vat, net=total - vat)


def movement_line_amounts(shipment) -> list[tuple[MovedLine, LineAmounts]]:
    """The lines of one movement — a shipment, or a return — priced from the order's lines (the first matching
    line of the product; a product the order does not have is listed at zero)."""
    order_lines = {}
    for line in shipment.order.lines.select_related("product__unit").order_by("position", "pk"):
        order_lines.setdefault(line.product_id, line)
    out = []
    for item in shipment.lines.select_related("product__unit").order_by("pk"):
        line = order_lines.get(item.product_id)
        if line is None or not line.base_quantity:
            amounts = LineAmounts(total=ZERO, vat=ZERO, net=ZERO)
            price, discount, rate = ZERO, ZERO, item.product.vat_rate
        else:
            amounts = _share(LineAmounts(total=line.total, vat=line.vat_amount, net=line.total - line.vat_amount),
                             item.quantity, line.base_quantity)
            price = round_money(line.price * line.quantity / line.base_quantity)
            discount, rate = line.discount_percent, line.vat_rate
        out.append((MovedLine(None, item.product, None, None, item.quantity, item.quantity, price, discount, rate),
                    amounts))
    return out


@dataclass(frozen=True)
class NetFigures:
    shipped: Decimal  # base units
    returned: Decimal
    total: Decimal  # the order's total less what was returned
    returned_total: Decimal


def order_net_figures(order) -> NetFigures:
    """What the client keeps: the order's total less the returned share of each line."""
    lines = list(order.lines.all())
    returned = sum_amounts(
        _share(LineAmounts(total=line.total, vat=line.vat_amount, net=line.total - line.vat_amount),
               line.returned_quantity, line.base_quantity)
        for line in lines if line.returned_quantity and line.base_quantity
    )
    return NetFigures(
        shipped=sum((line.shipped_quantity for line in lines), ZERO),
        returned=sum((line.returned_quantity for line in lines), ZERO),
        total=order.total - returned.total,
        returned_total=returned.total,
    )
