"""The one lock order for stock rows: primary-key order, taken by every writer of StockLevel rows (the
ERP stock sync) and by the stock guard (orders.locks), so transactions touching overlapping rows queue up
instead of deadlocking."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import StockLevel

STOCK_LOCK_ORDER = ("pk",)


def locked_stock(rows: QuerySet[StockLevel]) -> QuerySet[StockLevel]:
    """`rows` locked FOR UPDATE in the stock lock order (evaluate it inside a transaction)."""
    return rows.select_for_update(of=("self",)).order_by(*STOCK_LOCK_ORDER)


def lock_stock_of_products(
    product_ids: Iterable[int], *fields: str, warehouse_ids: Iterable[int] | None = None
) -> list[tuple]:
    """Lock the stock rows of these products (every batch; every warehouse, or only `warehouse_ids`); their
    `fields` as tuples."""
    ids = sorted(set(product_ids))
    if not ids:
        return []
    rows = StockLevel.objects.filter(product_id__any=ids)
    if warehouse_ids is not None:
        rows = rows.filter(warehouse_id__any=sorted(set(warehouse_ids)))
    return list(locked_stock(rows).values_list(*fields))
