"""A changed product's barcodes, packs, prices and kit components, upserted by their ERP identity.

Nothing is deleted: an order line may point at a pack (PROTECT), and a row the ERP no longer lists is
only deactivated (`active` False; `objects` managers hide it from every read). Identities:
barcode — its value; pack — its ERP id (else its unit); price — (product, price list); kit component —
(kit, component). Rows are written only where something differs; pinned prices (overrides) keep their
value and record a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from catalog.models import Barcode, KitComponent, Pack, Price
from integration.erp.importers.bulk import copy_rows, update_rows
from integration.overrides import load_pins


@dataclass
class DesiredChildren:
    """What the ERP lists for a batch of products, in our ids."""

    product_ids: list[int]
    new_ids: set[int] = field(default_factory=set)  # created just now: no children to look up
    barcodes: dict[str, tuple[int, str]] = field(default_factory=dict)  # value → (product, kind)
    packs: dict[int, list[tuple[int, Decimal, str, str | None]]] = field(default_factory=dict)
    prices: dict[tuple[int, int], Decimal] = field(default_factory=dict)  # (product, list) → amount
    erp_price_lists: set[int] = field(default_factory=set)  # lists the ERP keeps (others are left alone)
    components: dict[tuple[int, int], Decimal] = field(default_factory=dict)  # (kit, component) → qty


def upsert_children(desired: DesiredChildren, now: datetime) -> None:
    """Make the children of `desired.product_ids` match what the ERP lists (call inside a transaction)."""
    ids = desired.product_ids
    if not ids:
        return
    known = [pk for pk in ids if pk not in desired.new_ids]
    _upsert_barcodes(known, desired.barcodes)
    _upsert_packs(ids, known, desired.packs)
    upsert_prices(known, desired.prices, desired.erp_price_lists, now)
    _upsert_components(known, desired.components)


def _deactivate(model, pks: list[int]) -> None:
    if pks:
        model.all_objects.filter(pk__any=pks).update(active=False)


def _upsert_barcodes(ids: list[int], wanted: dict[str, tuple[int, str]]) -> None:
    current = {
        value: (pk, product_id, kind, active)
        for pk, value, product_id, kind, active in Barcode.all_objects.filter(value__any=list(wanted)).values_list(
            "pk", "value", "product_id", "kind", "active"
        )
    }
    stale = [
        pk
        for pk, value in Barcode.objects.filter(product_id__any=ids).values_list("pk", "value")
        if value not in wanted
    ]
    _deactivate(Barcode, stale)
    updates = [
        (product_id, kind, True, current[value][0])
        for value, (product_id, kind) in wanted.items()
        if value in current and current[value][1:] != (product_id, kind, True)
    ]
    update_rows(Barcode, ["product_id", "kind", "active"], sorted(updates, key=lambda row: row[-1]))
    creates = [(pid, value, kind, True) for value, (pid, kind) in wanted.items() if value not in current]
    copy_rows(Barcode, ("product_id", "value", "kind", "active"), creates, conflict=("value",))


def _upsert_packs(
    ids: list[int], known: list[int], wanted: dict[int, list[tuple[int, Decimal, str, str | None]]]
) -> None:
    existing: dict[int, list[tuple]] = {}
    for row in Pack.all_objects.filter(product_id__any=known).order_by("-active", "pk").values_list(
        "pk", "product_id", "unit_id", "factor", "barcode", "erp_id", "active"
    ):  # an empty `known` runs no query
        existing.setdefault(row[1], []).append(row)
    off, updates, creates = [], [], []
    for product_id in ids:
        rows = existing.get(product_id, [])
        by_erp_id = {row[5]: row for row in rows if row[5]}
        claimed = {erp_id for *_rest, erp_id in wanted.get(product_id, []) if erp_id}
        used: set[int] = set()
        for unit_id, factor, barcode, erp_id in wanted.get(product_id, []):
            match = by_erp_id.get(erp_id) if erp_id else None
            if match is None:  # a pack loaded without an ERP id (or a new id for the same unit): by unit
                match = next(
                    (r for r in rows if r[2] == unit_id and r[0] not in used and (not r[5] or r[5] not in claimed)),
                    None,
                )
            if match is None or match[0] in used:
                creates.append((product_id, unit_id, factor, barcode, erp_id, True))
                continue
            used.add(match[0])
            if (match[2], match[3], match[4], match[5], match[6]) != (unit_id, factor, barcode, erp_id, True):
                updates.append((unit_id, factor, barcode, erp_id, True, match[0]))
                if match[6] and match[2] != unit_id:
                    off.append(match[0])  # its unit moves: off first, so two packs may swap units
        off += [row[0] for row in rows if row[6] and row[0] not in used]
    # A unit is unique among a product's active packs: deactivate first, then update and insert.
    _deactivate(Pack, off)
    update_rows(Pack, ["unit_id", "factor", "barcode", "erp_id", "active"], sorted(updates, key=lambda r: r[-1]))
    copy_rows(Pack, ("product_id", "unit_id", "factor", "barcode", "erp_id", "active"), creates)


def upsert_prices(
    ids: list[int], wanted: dict[tuple[int, int], Decimal], erp_price_lists: set[int], now: datetime
) -> tuple[int, int]:
    """Prices of these products in the ERP's price lists; returns (created, updated)."""
    current = {
        (product_id, list_id): (pk, amount, active)
        for pk, product_id, list_id, amount, active in Price.all_objects.filter(product_id__any=ids).values_list(
            "pk", "product_id", "price_list_id", "amount", "active"
        )
    }
    pins = load_pins(Price, [pk for pk, _amount, _active in current.values()])
    updates = []
    for key, amount in wanted.items():
        row = current.get(key)
        if row is None:
            continue
        amount = pins.apply(row[0], {"amount": amount})["amount"]
        if (row[1], row[2]) != (amount, True):
            updates.append((amount, True, now, row[0]))
    pins.record_conflicts()
    stale = [row[0] for key, row in current.items() if row[2] and key not in wanted and key[1] in erp_price_lists]
    _deactivate(Price, stale)
    update_rows(Price, ["amount", "active", "updated_at"], sorted(updates, key=lambda r: r[-1]))
    creates = [(p, pl, amount, True, now) for (p, pl), amount in wanted.items() if (p, pl) not in current]
    copy_rows(Price, ("product_id", "price_list_id", "amount", "active", "updated_at"), creates)
    return len(creates), len(updates)


def _upsert_components(ids: list[int], wanted: dict[tuple[int, int], Decimal]) -> None:
    current = {
        (kit_id, component_id): (pk, quantity, active)
        for pk, kit_id, component_id, quantity, active in KitComponent.all_objects.filter(
            kit_id__any=ids
        ).values_list("pk", "kit_id", "component_id", "quantity", "active")
    }
    stale = [row[0] for key, row in current.items() if row[2] and key not in wanted]
    _deactivate(KitComponent, stale)
    updates = [
        (quantity, True, current[key][0])
        for key, quantity in wanted.items()
        if key in current and current[key][1:] != (quantity, True)
    ]
    update_rows(KitComponent, ["quantity", "active"], sorted(updates, key=lambda r: r[-1]))
    creates = [(kit, comp, quantity, True) for (kit, comp), quantity in wanted.items() if (kit, comp) not in current]
    copy_rows(
        KitComponent, ("kit_id", "component_id", "quantity", "active"), creates, conflict=("kit_id", "component_id")
    )
