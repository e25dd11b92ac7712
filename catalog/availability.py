"""Reads: what is available, per warehouse and in total, in base units (and in packs).

available = on hand − reserved − extra reserved + expected. `extra_reserved` is the caller's own
reserve the ERP has not seen yet (orders' pending reservations); it is counted in `reserved`, so
`available == on_hand - reserved + expected` holds for every figure returned.

A kit has no stock of its own: per warehouse, and in total, it is the minimum over its components of
⌊component available / quantity per kit⌋ (components the ERP dropped are deactivated and not counted:
`KitComponent.objects` reads active ones only). Batch-tracked stock is summed over batches for the product
figure; `get_batch_availability` gives it per batch.

Two queries for any number of products (kit components, then aggregated stock rows); `availability_from`
computes the same from data the caller read itself (the widget search reads it in its one query).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Min, Sum

from .models import KitComponent, Pack, StockLevel

ZERO = Decimal("0")


@dataclass(frozen=True)
class StockFigures:
    on_hand: Decimal
    reserved: Decimal
    expected: Decimal
    available: Decimal

    def __add__(self, other: "StockFigures") -> "StockFigures":
        return StockFigures(
            self.on_hand + other.on_hand,
            self.reserved + other.reserved,
            self.expected + other.expected,
            self.available + other.available,
        )


EMPTY = StockFigures(ZERO, ZERO, ZERO, ZERO)


@dataclass(frozen=True)
class StockRow:
    """A product's stock rows in one warehouse, summed over batches; `snapshot_at`: the oldest known one."""

    product_id: int
    warehouse_id: int
    on_hand: Decimal
    reserved: Decimal
    expected: Decimal
    snapshot_at: datetime | None


@dataclass(frozen=True)
class ProductAvailability:
    product_id: int
    total: StockFigures
    by_warehouse: dict[int, StockFigures]
    snapshot_at: datetime | None


def floor_div(quantity: Decimal, per: Decimal) -> Decimal:
    return (quantity / per).to_integral_value(rounding=ROUND_FLOOR)


def in_pack(quantity_base: Decimal, pack: Pack | None) -> Decimal:
    """Whole packs that `quantity_base` base units fill (floor); base units when `pack` is None."""
    return quantity_base if pack is None else floor_div(quantity_base, pack.factor)


def to_base(quantity: Decimal, pack: Pack | None) -> Decimal:
    """`quantity` packs in base units; `quantity` itself when `pack` is None."""
    return quantity if pack is None else quantity * pack.factor


def _figures(on_hand: Decimal, reserved: Decimal, expected: Decimal, extra: Decimal) -> StockFigures:
    reserved += extra
    return StockFigures(on_hand, reserved, expected, on_hand - reserved + expected)


def _kit_figures(parts: list[tuple[StockFigures, Decimal]]) -> StockFigures:
    """Kits countable from components: on hand = ⌊on hand/q⌋ min, available = ⌊available/q⌋ min."""
    if not parts:
        return EMPTY
    on_hand = min(floor_div(f.on_hand, q) for f, q in parts)
    free = min(floor_div(f.on_hand - f.reserved, q) for f, q in parts)
    available = min(floor_div(f.available, q) for f, q in parts)
    return StockFigures(on_hand, on_hand - free, available - free, available)


def _oldest(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def get_availability(
    product_ids: Iterable[int],
    *,
    warehouse_ids: Iterable[int] | None = None,
    extra_reserved: Mapping[tuple[int, int], Decimal] | None = None,
) -> dict[int, ProductAvailability]:
    """Availability of each product (kits from their components), keyed by product id.

    `warehouse_ids` limits the warehouses (each requested one appears in `by_warehouse`, zeros when it
    has no stock); `extra_reserved` maps (product_id, warehouse_id) → base units to hold back.
    """
    product_ids = list(dict.fromkeys(product_ids))
    if not product_ids:
        return {}
    components: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    # Ids as one array parameter (`__any`): a placeholder per id cost the catalog push more CPU than the query.
    for kit_id, component_id, quantity in KitComponent.objects.filter(kit_id__any=product_ids).values_list(
        "kit_id", "component_id", "quantity"
    ):
        components[kit_id].append((component_id, quantity))
    wanted = set(product_ids) | {c for parts in components.values() for c, _q in parts}

    rows = StockLevel.objects.filter(product_id__any=list(wanted))
    if warehouse_ids is not None:
        warehouse_ids = list(warehouse_ids)
        rows = rows.filter(warehouse_id__in=warehouse_ids)
    stock = [
        StockRow(row["product_id"], row["warehouse_id"], row["on_hand"], row["reserved"], row["expected"], row["at"])
        for row in rows.values("product_id", "warehouse_id")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"), expected=Sum("expected"), at=Min("snapshot_at"))
        .order_by()
    ]
    return availability_from(product_ids, components, stock, warehouse_ids=warehouse_ids, extra_reserved=extra_reserved)


def availability_from(
    product_ids: Iterable[int],
    components: Mapping[int, list[tuple[int, Decimal]]],
    stock: Iterable[StockRow],
    *,
    warehouse_ids: Iterable[int] | None = None,
    extra_reserved: Mapping[tuple[int, int], Decimal] | None = None,
) -> dict[int, ProductAvailability]:
    """get_availability over data the caller has read: the products' active kit components (kit id →
    [(component id, quantity)]) and the stock rows of the products and components summed per warehouse
    (limited to `warehouse_ids` when given). No query."""
    product_ids = list(dict.fromkeys(product_ids))
    extra = dict(extra_reserved or {})
    warehouse_ids = list(warehouse_ids) if warehouse_ids is not None else None
    raw: dict[int, dict[int, tuple[Decimal, Decimal, Decimal]]] = defaultdict(dict)
    snapshots: dict[int, datetime | None] = {}
    for row in stock:
        raw[row.product_id][row.warehouse_id] = (row.on_hand, row.reserved, row.expected)
        snapshots[row.product_id] = _oldest([snapshots.get(row.product_id), row.snapshot_at])

    warehouses = set(warehouse_ids) if warehouse_ids is not None else set()
    warehouses |= {w for per in raw.values() for w in per}
    warehouses |= {w for (_p, w) in extra if warehouse_ids is None or w in warehouses}

    def simple(pid: int) -> dict[int, StockFigures]:
        per = raw.get(pid, {})
        result = {}
        for w in warehouses:
            extra_w = extra.get((pid, w), ZERO)
            if w in per or extra_w or warehouse_ids is not None:
                result[w] = _figures(*per.get(w, (ZERO, ZERO, ZERO)), extra_w)
        return result

    result: dict[int, ProductAvailability] = {}
    for pid in product_ids:
        if pid in components:
            parts = [(simple(c), q) for c, q in components[pid]]
            by_warehouse = {}
            for w in warehouses:
                kit = _kit_figures([(per.get(w, EMPTY), q) for per, q in parts])
                if any(w in per for per, _q in parts) or extra.get((pid, w)) or warehouse_ids is not None:
                    by_warehouse[w] = _figures(kit.on_hand, kit.reserved, kit.expected, extra.get((pid, w), ZERO))
            totals = [(sum(per.values(), EMPTY), q) for per, q in parts]
            kit_total = _kit_figures(totals)
            kit_extra = sum((extra.get((pid, w), ZERO) for w in warehouses), ZERO)
            total = _figures(kit_total.on_hand, kit_total.reserved, kit_total.expected, kit_extra)
            snapshot = _oldest(snapshots.get(c) for c, _q in components[pid])
        else:
            by_warehouse = simple(pid)
            total = sum(by_warehouse.values(), EMPTY)
            snapshot = snapshots.get(pid)
        result[pid] = ProductAvailability(pid, total, by_warehouse, snapshot)
    return result


def get_batch_availability(
    product_id: int, warehouse_id: int, *, extra_reserved: Mapping[int, Decimal] | None = None
) -> dict[int, StockFigures]:
    """Per-batch figures of one batch-tracked product in one warehouse; `extra_reserved` by batch id."""
    extra = extra_reserved or {}
    rows = StockLevel.objects.filter(
        product_id=product_id, warehouse_id=warehouse_id, batch__isnull=False
    ).values_list("batch_id", "on_hand", "reserved", "expected")
    result = {batch_id: _figures(on_hand, reserved, expected, extra.get(batch_id, ZERO))
              for batch_id, on_hand, reserved, expected in rows}
    for batch_id, quantity in extra.items():
        result.setdefault(batch_id, _figures(ZERO, ZERO, ZERO, quantity))
    return result
