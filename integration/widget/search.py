"""Product search for the widget: name/article (trigram-indexed ILIKE) or an exact barcode, with the lead's
prices and the sellable stock per warehouse, in ONE query (page_rows.py): the page, its price list and prices,
packs, barcodes, kit components, stock rows summed per warehouse and the active reservations, as JSON per
product; the figures are computed by the same functions the stock guard uses (catalog.availability,
orders.reservations), so they equal sellable_availability's. Stock older than STOCK_MAX_AGE_SECONDS is
answered at once, flagged stale, and a refresh from the ERP is queued (deduplicated per product); `fresh`
refreshes it inline within a short budget, as before. The hot path builds its JSON directly (the shape is
documented by serializers.ProductPageSerializer): DRF serializers cost more than the queries here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from catalog.availability import availability_from
from catalog.models import Product, Warehouse
from integration.erp.services import queue_stock_refresh, refresh_stock_for
from integration.widget.leads import known_client, known_client_from
from integration.widget.page_rows import Page, merge, read_page
from orders.availability import sellable_availability
from orders.reservations import extra_reserved_from

REFRESH_BUDGET_SECONDS = 0.8
NAMES_TTL_SECONDS = 60.0
MIN_BARCODE_LENGTH = 6
_names: tuple[float, dict[int, str]] = (0.0, {})


@dataclass(frozen=True)
class ProductQuery:
    q: str = ""
    lead_id: int | None = None
    warehouse_id: int | None = None
    page: int = 1
    page_size: int = 20
    counterparty_id: int | None = None  # the deal's client (its company or contact), when the caller knows it
    backend_id: int | None = None  # the token's backend: the deal lead_id is checked in the page's query
    fresh: bool = False  # refresh stale stock from the ERP before answering (else it is queued)


def _is_stale(snapshot_at, now) -> bool:
    max_age = timedelta(seconds=settings.AMOERP["STOCK_MAX_AGE_SECONDS"])
    return snapshot_at is None or now - snapshot_at > max_age


def _qty(value: Decimal) -> str:
    return f"{value:.3f}"


def _figures(f) -> dict:
    return {"on_hand": _qty(f.on_hand), "reserved": _qty(f.reserved), "expected": _qty(f.expected),
            "available": _qty(f.available)}


def warehouse_names(needed: set[int]) -> dict[int, str]:
    """Warehouse names, cached per process for a minute (reloaded at once when one is missing)."""
    global _names
    stamp, names = _names
    if time.monotonic() - stamp > NAMES_TTL_SECONDS or not needed <= names.keys():
        names = dict(Warehouse.objects.values_list("pk", "name"))
        _names = (time.monotonic(), names)
    return names


def _page_stock(rows, warehouse_ids):
    """Sellable availability of the page's products from what the one query read (as sellable_availability)."""
    components, stock, nulls, held = merge(rows)
    oldest = {(r.product_id, r.warehouse_id): None if (r.product_id, r.warehouse_id) in nulls else r.snapshot_at
              for r in stock}
    extra, _by_batch = extra_reserved_from(None, oldest, held)
    return availability_from([row.id for row in rows], components, stock, warehouse_ids=warehouse_ids,
                             extra_reserved=extra)


def _read(query: ProductQuery, *, counterparty_id: int | None, deal_of: int | None = None) -> Page:
    q = query.q
    return read_page(
        q=q, barcode=bool(q) and " " not in q and len(q) >= MIN_BARCODE_LENGTH,
        counterparty_id=counterparty_id, lead_id=query.lead_id, warehouse_id=query.warehouse_id,
        offset=(query.page - 1) * query.page_size, limit=query.page_size + 1, deal_of=deal_of,
    )


def search_products(query: ProductQuery, *, client_of: Callable[[int], int | None] | None = None) -> dict:
    """The page of query. With query.backend_id, query.lead_id and no counterparty_id, the deal is checked in the
    page's own query (leads.known_client's rows); when those do not decide it (an unknown deal, one due to be asked
    about again, a merged client), `client_of(lead_id)` does — it may ask amoCRM, or refuse the deal — and the
    page is read again for the client it names."""
    counterparty_id = query.counterparty_id
    if query.backend_id and query.lead_id and not counterparty_id and client_of is not None:
        page = _read(query, counterparty_id=None, deal_of=query.backend_id)
        known, client_id = (known_client_from(page.deal) if page.deal is not None
                            else known_client(query.backend_id, query.lead_id))  # no rows: no deal row either
        if not known:
            page = _read(query, counterparty_id=client_of(query.lead_id))
    else:
        page = _read(query, counterparty_id=counterparty_id)
    has_next = len(page.rows) > query.page_size
    found = page.rows[: query.page_size]
    warehouse_ids = [query.warehouse_id] if query.warehouse_id else None
    stock = _page_stock(found, warehouse_ids)
    now = timezone.now()
    stale = {row.id for row in found
             if row.kind != Product.Kind.SERVICE and _is_stale(stock[row.id].snapshot_at, now)}
    refreshing = False
    if stale and query.fresh:
        if refresh_stock_for(sorted(stale), budget_seconds=REFRESH_BUDGET_SECONDS):
            kit_ids = [row.id for row in found if row.kind == Product.Kind.KIT]
            stock.update(sellable_availability(sorted(stale), warehouse_ids=warehouse_ids, kit_ids=kit_ids))
            stale = set()
    elif stale:
        refreshing = queue_stock_refresh(sorted(stale))
    names = warehouse_names({wid for figures in stock.values() for wid in figures.by_warehouse})
    currency = page.currency or "RUB"
    results = []
    for row in found:
        figures = stock[row.id]
        results.append({
            "id": row.id, "article": row.article, "name": row.name, "kind": row.kind,
            "tracking": row.tracking, "vat_rate": row.vat_rate, "unit": row.unit,
            "packs": [{"id": p["id"], "unit": p["unit"], "factor": _qty(p["factor"]), "barcode": p["barcode"]}
                      for p in row.packs],
            "barcodes": row.barcodes,
            "price": None if row.price is None else f"{row.price:.2f}", "currency": currency,
            "price_list": page.price_list_code,
            "stock": {
                "total": _figures(figures.total),
                "warehouses": [
                    {"warehouse_id": wid, "warehouse": names.get(wid, str(wid)), **_figures(f)}
                    for wid, f in sorted(figures.by_warehouse.items())
                ],
                "snapshot_at": timezone.localtime(figures.snapshot_at).isoformat() if figures.snapshot_at else None,
                "stale": row.id in stale,
            },
        })
    return {"results": results, "page": query.page, "page_size": query.page_size, "has_next": has_next,
            "refresh_queued": refreshing}
