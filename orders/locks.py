"""Ordered row locks (as Saleor's warehouse `lock_objects`): the order row first, then stock rows in the
one stock lock order (`catalog.locks`, primary key) that the ERP stock sync takes too, so transactions
locking overlapping sets of stock rows queue up instead of deadlocking."""

from __future__ import annotations

from collections.abc import Iterable

from catalog.locks import locked_stock
from catalog.models import StockLevel
from orders.models import Order


def lock_order(order_id: int) -> Order:
    """The order row, locked for the rest of the transaction (serialises changes to one order)."""
    return Order.objects.select_for_update(of=("self",)).get(pk=order_id)


def lock_stock_levels(product_ids: Iterable[int], warehouse_ids: Iterable[int]) -> list[StockLevel]:
    """Lock the stock rows of these products in these warehouses (all batches), in primary-key order."""
    product_ids, warehouse_ids = sorted(set(product_ids)), sorted(set(warehouse_ids))
    if not product_ids or not warehouse_ids:
        return []
    return list(locked_stock(StockLevel.objects.filter(product_id__in=product_ids, warehouse_id__in=warehouse_ids)))
