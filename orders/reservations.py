"""The stock guard: lock, compute availability, reserve all lines or none.

What counts against availability besides the ERP's own `reserved` figure ("extra reserved"):
our reservations of OTHER orders that the ERP's last stock snapshot does not contain yet. A reservation
is *contained* once the ERP confirmed it (status ``confirmed``, ``confirmed_at`` set) AND every stock row
of its product in its warehouse has a ``snapshot_at`` later than ``confirmed_at``; pending reservations
and confirmed ones without such a snapshot are counted as extra. Released reservations never count.
This order's own reservations are being replaced: those the snapshot already contains are handed back
(a negative extra), the others are ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from catalog.availability import get_availability, get_batch_availability
from catalog.models import KitComponent, Product, StockLevel
from orders.errors import Shortage
from orders.locks import lock_stock_levels
from orders.models import Order, OrderLine, Reservation
from orders.types import LineReserve

ZERO = Decimal("0")


@dataclass(frozen=True)
class Demand:
    """Base units of one stocked product that one order line needs (a kit line needs one per component)."""

    line_index: int
    product_id: int
    warehouse_id: int
    batch_id: int | None
    quantity: Decimal
    per_line_unit: Decimal  # component quantity per kit, 1 for plain products


@dataclass(frozen=True)
class GuardOutcome:
    lines: list[LineReserve]
    shortages: list[Shortage]
    reservations: list[Reservation]


def expand_demands(lines: Sequence[OrderLine]) -> list[Demand]:
    """Stocked base-unit demands of the lines; services need none, kits need their components."""
    kit_ids = [line.product_id for line in lines if line.product.kind == Product.Kind.KIT]
    components: dict[int, list[KitComponent]] = defaultdict(list)
    for comp in KitComponent.objects.filter(kit_id__in=kit_ids).order_by("component_id"):
        components[comp.kit_id].append(comp)
    demands = []
    for index, line in enumerate(lines):
        kind = line.product.kind
        if kind == Product.Kind.SERVICE:
            continue
        if kind == Product.Kind.KIT:
            for comp in components[line.product_id]:
                demands.append(
                    Demand(index, comp.component_id, line.warehouse_id, None, line.base_quantity * comp.quantity,
                           comp.quantity)
                )
        else:
            demands.append(
                Demand(index, line.product_id, line.warehouse_id, line.batch_id, line.base_quantity, Decimal("1"))
            )
    return demands


def _is_contained(res: dict, oldest_snapshot: dict[tuple[int, int], datetime | None]) -> bool:
    if res["status"] != Reservation.Status.CONFIRMED or res["confirmed_at"] is None:
        return False
    snapshot = oldest_snapshot.get((res["product_id"], res["warehouse_id"]))
    return snapshot is not None and snapshot > res["confirmed_at"]


def oldest_snapshots(rows: Sequence[StockLevel]) -> dict[tuple[int, int], datetime | None]:
    """The oldest snapshot time per (product, warehouse) of these stock rows; None when one row has none."""
    oldest: dict[tuple[int, int], datetime | None] = {}
    for row in rows:
        key = (row.product_id, row.warehouse_id)
        if key not in oldest:
            oldest[key] = row.snapshot_at
        elif oldest[key] is not None and (row.snapshot_at is None or row.snapshot_at < oldest[key]):
            oldest[key] = row.snapshot_at
    return oldest


def uncontained_reservations(
    order: Order | None, rows: Sequence[StockLevel], product_ids, warehouse_ids=None
) -> tuple[dict[tuple[int, int], Decimal], dict[tuple[int, int, int], Decimal]]:
    """Extra reserved per (product, warehouse) and per (product, warehouse, batch), as defined above;
    `rows` are the stock rows of these products (their snapshot times decide containment). Without an
    `order` every order counts as "other" (what managers see in the widget)."""
    active = Reservation.objects.filter(
        product_id__in=product_ids, status__in=[Reservation.Status.PENDING, Reservation.Status.CONFIRMED]
    )
    if warehouse_ids is not None:
        active = active.filter(warehouse_id__in=warehouse_ids)
    active = active.values("order_id", "product_id", "warehouse_id", "batch_id", "quantity", "status", "confirmed_at")
    return extra_reserved_from(order.pk if order is not None else None, oldest_snapshots(rows), active)


def extra_reserved_from(
    order_id: int | None, oldest: Mapping[tuple[int, int], datetime | None], active: Iterable[dict]
) -> tuple[dict[tuple[int, int], Decimal], dict[tuple[int, int, int], Decimal]]:
    """uncontained_reservations over active reservations the caller has read (dicts with order_id, product_id,
    warehouse_id, batch_id, quantity, status, confirmed_at) and the oldest snapshot per (product, warehouse)."""
    extra: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    extra_batch: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    for res in active:
        contained = _is_contained(res, oldest)
        if order_id is not None and res["order_id"] == order_id:
            delta = -res["quantity"] if contained else ZERO
        else:
            delta = ZERO if contained else res["quantity"]
        if delta:
            extra[(res["product_id"], res["warehouse_id"])] += delta
            if res["batch_id"] is not None:
                extra_batch[(res["product_id"], res["warehouse_id"], res["batch_id"])] += delta
    return dict(extra), dict(extra_batch)


def _floor(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


def guard_and_reserve(order: Order, lines: Sequence[OrderLine], *, allow_shortage: bool) -> GuardOutcome:
    """Lock the stock rows of `lines` (pk order), then reserve every line, or — when a line is short and
    `allow_shortage` is off — nothing at all. Must run inside a transaction. Short lines reserved under
    `allow_shortage` (an approved sale "в минус") are marked not automatic."""
    demands = expand_demands(lines)
    product_ids = sorted({d.product_id for d in demands})
    warehouse_ids = sorted({d.warehouse_id for d in demands})
    rows = lock_stock_levels(product_ids, warehouse_ids)
    extra, extra_batch = uncontained_reservations(order, rows, product_ids, warehouse_ids)
    availability = get_availability(product_ids, warehouse_ids=warehouse_ids, extra_reserved=extra) if demands else {}

    remaining: dict[tuple[int, int], Decimal] = {}
    for pid in product_ids:
        figures = availability.get(pid)
        for wid in warehouse_ids:
            stock = figures.by_warehouse.get(wid) if figures else None
            remaining[(pid, wid)] = stock.available if stock else ZERO
    remaining_batch: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    for pid, wid in sorted({(d.product_id, d.warehouse_id) for d in demands if d.batch_id is not None}):
        held = {b: q for (p, w, b), q in extra_batch.items() if (p, w) == (pid, wid)}
        for batch_id, figures in get_batch_availability(pid, wid, extra_reserved=held).items():
            remaining_batch[(pid, wid, batch_id)] = figures.available

    by_line: dict[int, list[Demand]] = defaultdict(list)
    for demand in demands:
        by_line[demand.line_index].append(demand)

    results, shortages, short_lines = [], [], set()
    for index, line in enumerate(lines):
        line_demands = by_line.get(index, [])
        fits, batch_fits, can_make = True, True, None
        for d in line_demands:
            left = remaining[(d.product_id, d.warehouse_id)]
            if d.batch_id is not None:
                batch_left = remaining_batch[(d.product_id, d.warehouse_id, d.batch_id)]
                if batch_left < d.quantity:
                    batch_fits = False
                left = min(left, batch_left)
            if left < d.quantity:
                fits = False
            possible = max(left, ZERO) / d.per_line_unit
            possible = _floor(possible) if d.per_line_unit != 1 else possible
            can_make = possible if can_make is None else min(can_make, possible)
        available = line.base_quantity if can_make is None else can_make
        if fits or allow_shortage:  # an approved short line still takes what is left from later lines
            for d in line_demands:
                remaining[(d.product_id, d.warehouse_id)] -= d.quantity
                if d.batch_id is not None:
                    remaining_batch[(d.product_id, d.warehouse_id, d.batch_id)] -= d.quantity
        if not fits:
            short_lines.add(index)
            shortages.append(
                Shortage(
                    index=index, product_id=line.product_id, warehouse_id=line.warehouse_id,
                    batch_id=line.batch_id, requested=line.base_quantity, available=available,
                    reason=Shortage.REASON_STOCK if batch_fits else Shortage.REASON_BATCH,
                )
            )
        reserved = line.base_quantity if (fits or allow_shortage) else ZERO
        results.append(
            LineReserve(
                index=index, product_id=line.product_id, warehouse_id=line.warehouse_id, batch_id=line.batch_id,
                requested=line.base_quantity, reserved=reserved,
                short=ZERO if fits else line.base_quantity - max(min(available, line.base_quantity), ZERO),
            )
        )
    if shortages and not allow_shortage:
        # All or nothing: lines checked before the first short one reserve nothing either.
        results = [
            LineReserve(r.index, r.product_id, r.warehouse_id, r.batch_id, r.requested, ZERO, r.short) for r in results
        ]
        return GuardOutcome(results, shortages, [])
    reservations = Reservation.objects.bulk_create(
        Reservation(
            order=order, line=lines[d.line_index], product_id=d.product_id, warehouse_id=d.warehouse_id,
            batch_id=d.batch_id, quantity=d.quantity, status=Reservation.Status.PENDING,
            automatic=d.line_index not in short_lines,
        )
        for d in demands
    )
    return GuardOutcome(results, shortages, reservations)


def release_reservations(order: Order) -> int:
    """Release (and detach from their lines) all the order's active reservations; returns how many."""
    return Reservation.objects.filter(
        order=order, status__in=[Reservation.Status.PENDING, Reservation.Status.CONFIRMED]
    ).update(status=Reservation.Status.RELEASED, line=None)


def held_per_line(lines: Sequence[OrderLine]) -> dict[int, Decimal]:
    """What each line's active reservations hold, in the line's base units — the ERP's measure of a position's
    reserve. A kit line's reservations are of its components (k × the component's quantity per kit)."""
    per_kit: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for kit_id, quantity in KitComponent.objects.filter(
        kit_id__in={line.product_id for line in lines}
    ).values_list("kit_id", "quantity"):
        per_kit[kit_id] += quantity
    held: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line_id, quantity in Reservation.objects.filter(
        line__in=[line.pk for line in lines], status__in=[Reservation.Status.PENDING, Reservation.Status.CONFIRMED]
    ).values_list("line_id", "quantity"):
        held[line_id] += quantity
    kinds = {line.pk: line.product_id for line in lines}
    return {
        line_id: (total / per_kit[kinds[line_id]] if per_kit.get(kinds[line_id]) else total).quantize(Decimal("0.001"))
        for line_id, total in held.items()
    }
