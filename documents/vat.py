"""VAT maths for order lines and documents: each line is rounded to kopecks on its own.

A line's total is price × quantity less the discount, rounded half-up to kopecks. With VAT-inclusive
prices (the default, as in MoySklad's `vatIncluded`) the VAT is extracted with the calculated rate
r/(100+r) — 22/122, 10/110, 5/105, 7/107 — and rounded per line; a document's VAT is the sum of
its lines' VAT, never recomputed from the grand total.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from catalog.models import VatRate

KOPECK = Decimal("0.01")
HUNDRED = Decimal("100")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LineAmounts:
    total: Decimal  # what the buyer pays for the line (VAT included)
    vat: Decimal  # VAT inside `total`; 0.00 for 0 % and "без НДС"
    net: Decimal  # total − vat


def round_money(value: Decimal) -> Decimal:
    """Half-up to kopecks (the ERP's and the paper forms' rounding)."""
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def _decimal(name: str, value: object) -> Decimal:
    if isinstance(value, float) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"{name}: expected a Decimal, got {type(value).__name__}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return result


def vat_percent(vat_rate: str) -> Decimal | None:
    """The rate as a percentage, None for "без НДС"; ValueError for an unknown rate."""
    if vat_rate not in VatRate.values:
        raise ValueError(f"vat_rate: unknown VAT rate {vat_rate!r} (expected one of {', '.join(VatRate.values)})")
    return VatRate.percent(vat_rate)


def line_amounts(
    *,
    price: Decimal,
    quantity: Decimal,
    discount_percent: Decimal,
    vat_rate: str,
    vat_included: bool = True,
) -> LineAmounts:
    """Total, VAT and net of one line, each in kopecks.

    vat_included=False means `price` is net of VAT: the VAT is then added on top, also per line.
    """
    price = _decimal("price", price)
    quantity = _decimal("quantity", quantity)
    discount = _decimal("discount_percent", discount_percent)
    if price < 0:
        raise ValueError("price: must not be negative")
    if quantity < 0:
        raise ValueError("quantity: must not be negative")
    if not 0 <= discount <= HUNDRED:
        raise ValueError("discount_percent: must be between 0 and 100")
    percent = vat_percent(vat_rate)

    amount = round_money(price * quantity * (HUNDRED - discount) / HUNDRED)
    if not percent:  # 0 % or без НДС
        return LineAmounts(total=amount, vat=ZERO, net=amount)
    if vat_included:
        vat = round_money(amount * percent / (HUNDRED + percent))
        return LineAmounts(total=amount, vat=vat, net=amount - vat)
    vat = round_money(amount * percent / HUNDRED)
    return LineAmounts(total=amount + vat, vat=vat, net=amount)


def sum_amounts(lines: Iterable[LineAmounts]) -> LineAmounts:
    """A document's totals: the sums of its lines' rounded amounts."""
    total = vat = net = ZERO
    for line in lines:
        total += line.total
        vat += line.vat
        net += line.net
    return LineAmounts(total=total, vat=vat, net=net)
