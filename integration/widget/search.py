"""Product search for the widget: name/article (trigram-indexed ILIKE) or an exact barcode, with the lead's
prices and the sellable stock per warehouse; stock older than STOCK_MAX_AGE_SECONDS is refreshed from the
ERP within a short budget, or returned flagged stale. The hot path builds its JSON directly (the shape is
documented by serializers.ProductPageSerializer): DRF serializers cost more than the queries here."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from catalog.models import Barcode, Pack, Product, Warehouse
from counterparties.models import Counterparty
from integration.erp.services import refresh_stock_for
from orders.availability import sellable_availability
from orders.models import Order
from orders.pricing import base_prices, price_list_for

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


def _matching(q: str):
    products = Product.objects.filter(active=True)
    if not q:
        return products
    text = Q(name__icontains=q) | Q(article__icontains=q)
    if " " in q or len(q) < MIN_BARCODE_LENGTH:
        return products.filter(text)  # cannot be a barcode
    # Exact barcodes first, as literal ids: an OR with a subquery would defeat the trigram indexes.
    by_code = Barcode.objects.filter(value=q).values_list("product_id", flat=True).union(
        Pack.objects.filter(barcode=q).values_list("product_id", flat=True)
    )
    return products.filter(text | Q(pk__in=sorted(by_code)))


def _price_list_for(query: ProductQuery):
    """The client's price list: the given counterparty's, else that of the lead's order, else the default."""
    if query.counterparty_id:
        client = Counterparty.objects.select_related("segment__price_list").filter(pk=query.counterparty_id).first()
        return price_list_for(client)
    order = (
        Order.objects.filter(lead_id=query.lead_id).select_related("counterparty__segment__price_list").first()
        if query.lead_id
        else None
    )
    return price_list_for(order.counterparty if order else None)


def _is_stale(snapshot_at, now) -> bool:
    max_age = timedelta(seconds=settings.AMOERP["STOCK_MAX_AGE_SECONDS"])
    return snapshot_at is None or now - snapshot_at > max_age


def _qty(value: Decimal) -> str:
    return f"{value:.3f}"


def _figures(f) -> dict:
    return {"on_hand": _qty(f.on_hand), "reserved": _qty(f.reserved), "expected": _qty(f.expected),
            "available": _qty(f.available)}


def _unit(unit) -> dict:
    return {"id": unit.pk, "okei_code": unit.okei_code, "short_name": unit.short_name}


def warehouse_names(needed: set[int]) -> dict[int, str]:
    """Warehouse names, cached per process for a minute (reloaded at once when one is missing)."""
    global _names
    stamp, names = _names
    if time.monotonic() - stamp > NAMES_TTL_SECONDS or not needed <= names.keys():
        names = dict(Warehouse.objects.values_list("pk", "name"))
        _names = (time.monotonic(), names)
    return names


def search_products(query: ProductQuery) -> dict:
    offset = (query.page - 1) * query.page_size
    found = list(
        _matching(query.q).select_related("unit").order_by("article")[offset : offset + query.page_size + 1]
    )
    has_next = len(found) > query.page_size
    found = found[: query.page_size]
    ids = [p.pk for p in found]
    price_list = _price_list_for(query)
    prices = base_prices(ids, price_list)
    packs: dict[int, list[Pack]] = defaultdict(list)
    for pack in Pack.objects.filter(product_id__in=ids).select_related("unit").order_by("factor"):
        packs[pack.product_id].append(pack)
    barcodes: dict[int, list[str]] = defaultdict(list)
    for product_id, value in Barcode.objects.filter(product_id__in=ids).values_list("product_id", "value"):
        barcodes[product_id].append(value)
    warehouse_ids = [query.warehouse_id] if query.warehouse_id else None
    kit_ids = [p.pk for p in found if p.kind == Product.Kind.KIT]
    stock = sellable_availability(ids, warehouse_ids=warehouse_ids, kit_ids=kit_ids)
    now = timezone.now()
    stocked = [p.pk for p in found if p.kind != Product.Kind.SERVICE]
    stale = {pid for pid in stocked if _is_stale(stock[pid].snapshot_at, now)}
    if stale and refresh_stock_for(sorted(stale), budget_seconds=REFRESH_BUDGET_SECONDS):
        stock.update(sellable_availability(sorted(stale), warehouse_ids=warehouse_ids, kit_ids=kit_ids))
        stale = set()
    names = warehouse_names({wid for figures in stock.values() for wid in figures.by_warehouse})
    currency = price_list.currency if price_list else "RUB"
    list_code = price_list.code if price_list else None
    results = []
    for product in found:
        figures = stock[product.pk]
        price = prices.get(product.pk)
        results.append({
            "id": product.pk, "article": product.article, "name": product.name, "kind": product.kind,
            "tracking": product.tracking, "vat_rate": product.vat_rate, "unit": _unit(product.unit),
            "packs": [{"id": p.pk, "unit": _unit(p.unit), "factor": _qty(p.factor), "barcode": p.barcode}
                      for p in packs[product.pk]],
            "barcodes": barcodes[product.pk],
            "price": None if price is None else f"{price:.2f}", "currency": currency, "price_list": list_code,
            "stock": {
                "total": _figures(figures.total),
                "warehouses": [
                    {"warehouse_id": wid, "warehouse": names.get(wid, str(wid)), **_figures(f)}
                    for wid, f in sorted(figures.by_warehouse.items())
                ],
                "snapshot_at": timezone.localtime(figures.snapshot_at).isoformat() if figures.snapshot_at else None,
                "stale": product.pk in stale,
            },
        })
    return {"results": results, "page": query.page, "page_size": query.page_size, "has_next": has_next}
