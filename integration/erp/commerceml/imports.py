"""import.xml and offers.xml applied with the ERP core's importers, each file in ONE transaction.

The catalog goes through the catalog importer's References and ProductWriter (bindings, content hashes, pins,
conflicts and sync runs as for every ERP: an unchanged file writes nothing); prices through `upsert_prices`
and stock through the StockWriter. Prices are not part of the product records here: 1C sends them in
offers.xml, after import.xml, so the product's hash covers its card only and each file owns its own rows.

A file is read while it is applied (streaming, page by page); any error rolls the whole file back, so 1C's
`failure` leaves nothing half-applied and the next exchange starts from the same state. The runs are recorded with
the trigger "webhook": the ERP pushed the data (1C's exchange), nobody on our side started them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from catalog.models import Product, StockLevel, Warehouse
from integration.erp.commerceml import parser
from integration.erp.importers.catalog import ProductWriter, References
from integration.erp.importers.catalog_children import upsert_prices
from integration.erp.importers.stock import StockWriter
from integration.erp.types import ErpCategory, ErpPriceList, ErpProduct, ErpUnit, ErpWarehouse
from integration.models import Backend, Binding, SyncRun
from integration.syncruns import sync_run

logger = logging.getLogger(__name__)

PAGE = 1000
TOTAL_WAREHOUSE = ErpWarehouse(erp_id="cml:total", name="1C")  # offers with a quantity and no warehouses
COUNTERS = ["created", "updated", "unchanged", "skipped", "failed", "details", "heartbeat_at"]
Progress = Callable[[int], None]


class PackageAdapter:
    """The reference lists one file gave, served to the importers' References as an adapter would."""

    def __init__(self):
        self.units: dict[str, ErpUnit] = {}
        self.categories: list[ErpCategory] = []
        self.price_lists: list[ErpPriceList] = []
        self.warehouses: list[ErpWarehouse] = []

    def iter_units(self):
        return iter(self.units.values())

    def iter_categories(self):
        return iter(self.categories)

    def iter_price_lists(self):
        return iter(self.price_lists)

    def iter_warehouses(self):
        return iter(self.warehouses)


def file_kind(name: str) -> str:
    """1C names its files import*.xml (catalog) and offers*.xml; CommerceML 3 adds prices*/rests*."""
    base = Path(name).name.lower()
    return "offers" if base.startswith(("offers", "prices", "rests")) else "catalog"


def import_file(backend: Backend, path: Path, *, progress: Progress | None = None) -> SyncRun:
    if file_kind(path.name) == "offers":
        return import_offers(backend, path, progress=progress)
    return import_catalog(backend, path, progress=progress)


def _flush(run: SyncRun, progress: Progress | None, done: int) -> None:
    run.heartbeat_at = timezone.now()
    run.save(update_fields=COUNTERS)
    if progress is not None:
        progress(done)


def import_catalog(backend: Backend, path: Path, *, progress: Progress | None = None) -> SyncRun:
    """Groups, units and products of import.xml; a full catalog (СодержитТолькоИзменения=false) archives the
    products of this backend it no longer lists, a changes-only one leaves absent products alone."""
    adapter = PackageAdapter()
    with sync_run(backend, "catalog", SyncRun.Trigger.WEBHOOK, full=False) as run, transaction.atomic():
        refs = References(backend, adapter, run)
        writer = ProductWriter(backend, run, refs, dry_run=backend.dry_run)
        page: list[ErpProduct] = []
        pending_units: dict[str, ErpUnit] = {}
        full = False
        done = 0

        def write() -> None:
            nonlocal done
            if pending_units:
                adapter.units.update(pending_units)
                pending_units.clear()
                refs.sync_units()
            writer.write_page(page)
            done += len(page)
            page.clear()
            _flush(run, progress, done)

        for record in parser.read(path):
            if isinstance(record, parser.Classifier):
                adapter.units.update((u.erp_id, u) for u in record.units)
                adapter.categories = list(record.categories)
                refs.sync_units()
                refs.sync_categories()
            elif isinstance(record, parser.CatalogStart):
                full = not record.only_changes
            elif isinstance(record, ErpUnit):
                if record.erp_id not in refs.units and record.erp_id not in adapter.units:
                    pending_units[record.erp_id] = record
            elif isinstance(record, ErpProduct):
                page.append(record)
                if len(page) >= PAGE:
                    write()
        write()
        run.full = full
        if full and not writer.dry_run:
            run.details["archived_missing"] = writer.archive_unseen()
        run.details["rows_written"] = writer.rows_written
        run.details["file"] = path.name
        run.save(update_fields=["full", *COUNTERS])
    return run


@dataclass
class OfferPage:
    prices: dict[str, dict[str, Decimal]]  # product erp id → price type → amount
    stock: dict[str, dict[str, Decimal]]  # product erp id → warehouse → quantity
    count: int = 0


def import_offers(backend: Backend, path: Path, *, progress: Progress | None = None) -> SyncRun:
    """Prices (ТипыЦен → price lists) and stock per warehouse (`<Склад ИдСклада КоличествоНаСкладе>`) of
    offers.xml. Offers of a product's characteristics ("<product>#<characteristic>") are folded into the
    product: their stock is summed, the first one's prices are kept. A full package that carries stock is the
    whole stock: the goods it omits (1C leaves out those not in stock) have none left."""
    adapter = PackageAdapter()
    with sync_run(backend, "stock", SyncRun.Trigger.WEBHOOK, full=False) as run, transaction.atomic():
        refs = References(backend, adapter, run)
        stock = StockWriter(backend, run, dry_run=backend.dry_run)
        listed_lists: set[int] = set()
        known_warehouses: list[str] = []
        page = OfferPage({}, {})
        done = 0
        full = False
        prices_written = 0
        listed: set[str] = set()
        carries_stock = False

        def write() -> None:
            nonlocal done, prices_written, page
            products = dict(Product.objects.filter(erp_id__in=set(page.prices) | set(page.stock))
                            .values_list("erp_id", "pk"))
            wanted: dict[tuple[int, int], Decimal] = {}
            for erp_id, amounts in page.prices.items():
                for price_type, amount in amounts.items():
                    list_id = refs.price_lists.get(price_type)
                    if erp_id in products and list_id is not None:
                        wanted[(products[erp_id], list_id)] = amount
            priced = [products[e] for e in page.prices if e in products]
            run.skipped += len((set(page.prices) | set(page.stock)) - set(products))  # not in the catalog (yet)
            if priced and not backend.dry_run:
                created, updated = upsert_prices(priced, wanted, listed_lists, timezone.now())
                prices_written += created + updated
                run.details["prices_created"] = run.details.get("prices_created", 0) + created
                run.details["prices_updated"] = run.details.get("prices_updated", 0) + updated
            values = {}
            for erp_id, per_warehouse in page.stock.items():
                for warehouse, quantity in per_warehouse.items():
                    key = stock.key_of(erp_id, warehouse, None)
                    if key is not None:
                        values[key] = {"on_hand": quantity, "reserved": Decimal(0), "expected": Decimal(0)}
            stock.write(values, snapshot_at=timezone.now())
            done += page.count
            page = OfferPage({}, {})
            _flush(run, progress, done)

        for record in parser.read(path):
            if isinstance(record, parser.OffersStart):
                full = not record.only_changes
            elif isinstance(record, parser.OffersHeader):
                adapter.price_lists = list(record.price_lists)
                adapter.warehouses = list(record.warehouses)
                refs.sync_price_lists()
                refs.sync_warehouses()
                stock.warehouses = dict(Warehouse.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
                listed_lists = set(refs.price_lists.values())
                known_warehouses = [w.erp_id for w in record.warehouses]
            elif isinstance(record, parser.Offer):
                # A full page is written before the next product, never between two characteristics of one.
                if page.count >= PAGE and record.product_erp_id not in page.stock | page.prices:
                    write()
                _fold(page, record, known_warehouses, refs, stock)
                listed.add(record.product_erp_id)
                carries_stock = carries_stock or bool(record.stock) or record.quantity is not None
        write()
        if full and carries_stock and not backend.dry_run:
            run.details["zeroed_unlisted"] = zero_unlisted(backend, listed, stock)
        run.full = full
        run.details.update(file=path.name, rows_written=stock.rows_written + prices_written)
        run.save(update_fields=["full", *COUNTERS])
    return run


def zero_unlisted(backend: Backend, listed: set[str], stock: StockWriter) -> int:
    """Zero the stock of this backend's products a full offers package did not list; returns the rows zeroed."""
    bound = Binding.objects.filter(backend=backend, content_type=ContentType.objects.get_for_model(Product))
    gone = [pk for erp_id, pk in bound.values_list("external_id", "object_id").iterator() if erp_id not in listed]
    zero, zeroed = Decimal(0), 0
    for start in range(0, len(gone), PAGE):
        rows = (StockLevel.objects.filter(product_id__in=gone[start:start + PAGE])
                .exclude(on_hand=0, reserved=0, expected=0).values_list("product_id", "warehouse_id", "batch_id"))
        values = {row: {"on_hand": zero, "reserved": zero, "expected": zero} for row in rows}
        stock.write(values, snapshot_at=timezone.now())
        zeroed += len(values)
    return zeroed


def _fold(page: OfferPage, offer: parser.Offer, warehouses: list[str], refs: References, stock: StockWriter) -> None:
    product = offer.product_erp_id
    page.count += 1
    if offer.prices and product not in page.prices:
        page.prices[product] = dict(offer.prices)
    per_warehouse: dict[str, Decimal] = {}
    if offer.stock:
        per_warehouse = {w: Decimal(0) for w in warehouses}
        for warehouse, quantity in offer.stock:
            per_warehouse[warehouse] = quantity
    elif offer.quantity is not None and not warehouses:
        per_warehouse = {TOTAL_WAREHOUSE.erp_id: offer.quantity}
    if not per_warehouse:
        return
    missing = [w for w in per_warehouse if w not in stock.warehouses]
    if missing:  # a warehouse only named in the offers (or the "total" one): made once, by its Ид
        refs.adapter.warehouses = [*refs.adapter.warehouses,
                                   *(TOTAL_WAREHOUSE if w == TOTAL_WAREHOUSE.erp_id else ErpWarehouse(erp_id=w, name=w)
                                     for w in missing)]
        refs.sync_warehouses()
        stock.warehouses = dict(Warehouse.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
    target = page.stock.setdefault(product, {})
    for warehouse, quantity in per_warehouse.items():
        target[warehouse] = target.get(warehouse, Decimal(0)) + quantity if offer.erp_id != product else quantity
