"""Reads: what managers may still sell — the ERP's snapshot less our reservations it does not contain yet."""

from __future__ import annotations

from collections.abc import Iterable

from catalog.availability import ProductAvailability, get_availability
from catalog.models import KitComponent, StockLevel
from orders.models import Reservation
from orders.reservations import uncontained_reservations

ACTIVE = (Reservation.Status.PENDING, Reservation.Status.CONFIRMED)


def sellable_availability(
    product_ids: Iterable[int], *, warehouse_ids: Iterable[int] | None = None, kit_ids: Iterable[int] | None = None
) -> dict[int, ProductAvailability]:
    """catalog.availability.get_availability with every order's uncontained reservations held back
    (kits through their components). `kit_ids`: which of the products are kits, when the caller knows."""
    product_ids = list(dict.fromkeys(product_ids))
    if not product_ids:
        return {}
    warehouse_ids = list(warehouse_ids) if warehouse_ids is not None else None
    kits = product_ids if kit_ids is None else list(kit_ids)
    stocked = set(product_ids)
    if kits:
        stocked |= set(KitComponent.objects.filter(kit_id__in=kits).values_list("component_id", flat=True))
    held = Reservation.objects.filter(product_id__in=stocked, status__in=ACTIVE)
    if warehouse_ids is not None:
        held = held.filter(warehouse_id__in=warehouse_ids)
    reserved_products = set(held.values_list("product_id", flat=True).distinct())
    extra = {}
    if reserved_products:  # usually a few: only their stock rows' snapshot times matter
        rows = StockLevel.objects.filter(product_id__in=reserved_products)
        if warehouse_ids is not None:
            rows = rows.filter(warehouse_id__in=warehouse_ids)
        rows = list(rows.only("product_id", "warehouse_id", "snapshot_at"))
        extra, _by_batch = uncontained_reservations(None, rows, sorted(reserved_products), warehouse_ids)
    return get_availability(product_ids, warehouse_ids=warehouse_ids, extra_reserved=extra)
