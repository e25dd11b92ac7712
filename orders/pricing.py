"""Which price list an order buys at, and the unit prices from it."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from catalog.models import Price, PriceList


def price_list_for(counterparty) -> PriceList | None:
    """The counterparty's segment price list; the default price list when it has none."""
    segment = getattr(counterparty, "segment", None) if counterparty is not None else None
    if segment is not None:
        return segment.price_list
    return PriceList.objects.filter(is_default=True).order_by("pk").first()


def base_prices(product_ids: Iterable[int], price_list: PriceList | None) -> dict[int, Decimal]:
    """Price per base unit of each product in the price list (products without a price are absent)."""
    if price_list is None:
        return {}
    return dict(
        Price.objects.filter(price_list=price_list, product_id__in=list(product_ids)).values_list(
            "product_id", "amount"
        )
    )
