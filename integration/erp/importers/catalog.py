"""ERP → platform catalog, for any ERP adapter (integration/erp/protocol.py): units, folders, price lists,
warehouses, products, services, kits, packs, barcodes and prices — typed records streamed page by page with
bulk writes, one transaction per page.

- A record whose mapped content hashes the same as its binding's writes nothing (no history rows:
  bulk operations never write them, and nothing here calls save()).
- Incremental runs read what changed since `cursor − overlap` (the ERP's clock, stored as the cursor).
- Archived in the ERP → Product.active False + archived_at; a full run archives products the ERP no
  longer lists. Nothing is ever deleted: barcodes, packs, prices and kit components the ERP drops are
  deactivated (`catalog_children`).
- Fields staff pinned (overrides) keep their value and record a conflict; the pins are folded into the
  binding's hash, so a pin added or lifted since the last run makes the product count as changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from catalog.models import Category, Price, PriceList, Product, Unit, Warehouse
from integration import connectors
from integration.bindings import compute_hash
from integration.erp.importers.bulk import copy_rows, update_rows
from integration.erp.importers.catalog_children import DesiredChildren, upsert_children, upsert_prices
from integration.erp.importers.cursors import get_cursor, set_cursor
from integration.erp.protocol import ErpAdapter
from integration.erp.types import ErpProduct, rejected_of
from integration.models import Backend, Binding, SyncRun
from integration.overrides import Pins, load_pins
from integration.progress import Total, step
from integration.syncruns import sync_run

logger = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=2)
MAX_ERRORS_KEPT = 50
PRODUCT_COLUMNS = [
    "erp_id",
    "article",
    "name",
    "description",
    "category_id",
    "unit_id",
    "kind",
    "vat_rate",
    "tracking",
    "active",
    "archived_at",
    "updated_at",
]
BINDING_COLUMNS = (
    "backend_id",
    "content_type_id",
    "object_id",
    "external_id",
    "remote_version",
    "remote_updated_at",
    "content_hash",
    "synced_at",
)


class DryRunRollback(Exception):
    """Raised inside a dry run's transaction to undo its writes."""


def note_error(run: SyncRun, message: str) -> None:
    errors = run.details.setdefault("errors", [])
    if len(errors) < MAX_ERRORS_KEPT:
        errors.append(message)
    run.failed += 1


def erp_adapter(backend: Backend) -> ErpAdapter:
    """The backend's ERP adapter, from the connector registry (UnknownConnector for a kind nobody registered)."""
    return connectors.adapter_for(backend, role=connectors.Role.ERP)


def cursor_name(backend: Backend, area: str) -> str:
    """The key of an area's cursor in Backend.cursors: "<kind>.<area>" (e.g. "moysklad.catalog")."""
    return f"{backend.kind}.{area}"


def product_hash(product: ErpProduct) -> str:
    """The hash of everything we map from a product (not its `updated` stamp); built by hand, as
    dataclasses.asdict is several times slower on 100,000 products."""
    return compute_hash(
        {
            "erp_id": product.erp_id,
            "article": product.article,
            "name": product.name,
            "kind": product.kind,
            "unit": product.unit_erp_id,
            "vat": product.vat_rate,
            "category": product.category_erp_id,
            "tracking": product.tracking,
            "archived": product.archived,
            "description": product.description,
            "barcodes": [[b.value, b.kind] for b in product.barcodes],
            "packs": [
                [p.erp_id, p.unit_erp_id, str(p.factor), [[b.value, b.kind] for b in p.barcodes]]
                for p in product.packs
            ],
            "prices": [[p.price_list_erp_id, str(p.amount)] for p in product.prices],
            "components": [[c.component_erp_id, str(c.quantity)] for c in product.components],
        }
    )


@dataclass
class PagePins:
    """Pins on a page's products, and the signatures of pins on their prices (the prices are written
    with the product, so a price pinned or lifted since the last run makes the product count as changed)."""

    products: Pins
    price_signatures: dict[int, str]

    def hash(self, product_id: int | None, digest: str) -> str:
        also = self.price_signatures.get(product_id, "") if product_id is not None else ""
        return self.products.pinned_hash(product_id, digest, also=also)


class References:
    """Small reference lists, synced first; their erp_id → pk maps serve the product pages."""

    def __init__(self, backend: Backend, adapter: ErpAdapter, run: SyncRun):
        self.backend, self.adapter, self.run = backend, adapter, run
        self.units: dict[str, int] = {}
        self.categories: dict[str, int] = {}
        self.price_lists: dict[str, int] = {}
        self.warehouses: dict[str, int] = {}

    def sync_units(self) -> None:
        with transaction.atomic():
            pins = load_pins(Unit, Unit.objects.values("pk"))
            for unit in self.adapter.iter_units():
                local = (
                    Unit.objects.filter(erp_id=unit.erp_id).first()
                    or Unit.objects.filter(okei_code=unit.okei_code).first()
                )
                values = {
                    "okei_code": unit.okei_code,
                    "name": unit.name[:64],
                    "short_name": unit.short_name[:16],
                    "erp_id": unit.erp_id,
                }
                if local is None:
                    local = Unit.objects.create(**values)
                else:
                    values = pins.apply(local.pk, values)
                    if any(getattr(local, k) != v for k, v in values.items()):
                        Unit.objects.filter(pk=local.pk).update(**values)
                self.units[unit.erp_id] = local.pk
            pins.record_conflicts()

    def sync_categories(self) -> None:
        with transaction.atomic():
            folders = list(self.adapter.iter_categories())
            existing = {c.erp_id: c for c in Category.objects.filter(erp_id__in=[f.erp_id for f in folders])}
            pins = load_pins(Category, [c.pk for c in existing.values()])
            for folder in folders:
                local = existing.get(folder.erp_id)
                if local is None:
                    existing[folder.erp_id] = Category.objects.create(
                        name=folder.name[:255], erp_id=folder.erp_id
                    )
                    continue
                name = pins.apply(local.pk, {"name": folder.name[:255]})["name"]
                if local.name != name:
                    Category.objects.filter(pk=local.pk).update(name=name)
            for folder in folders:
                parent = existing.get(folder.parent_erp_id or "")
                local = existing[folder.erp_id]
                parent_id = pins.apply(local.pk, {"parent_id": parent.pk if parent else None})["parent_id"]
                if parent_id != local.parent_id:
                    Category.objects.filter(pk=local.pk).update(parent_id=parent_id)
            pins.record_conflicts()
            self.categories = {erp_id: c.pk for erp_id, c in existing.items()}

    def sync_price_lists(self) -> None:
        with transaction.atomic():
            pins = load_pins(PriceList, PriceList.objects.values("pk"))
            for pl in self.adapter.iter_price_lists():
                local = (
                    PriceList.objects.filter(erp_id=pl.erp_id).first()
                    or PriceList.objects.filter(code=pl.code, erp_id__isnull=True).first()
                )
                values = {
                    "name": pl.name[:255],
                    "code": pl.code[:64],
                    "currency": pl.currency,
                    "erp_id": pl.erp_id,
                }
                if local is None:
                    local = PriceList.objects.create(**values)
                else:
                    values = pins.apply(local.pk, values)
                    if any(getattr(local, k) != v for k, v in values.items()):
                        PriceList.objects.filter(pk=local.pk).update(**values)
                self.price_lists[pl.erp_id] = local.pk
            pins.record_conflicts()
            if self.price_lists and not PriceList.objects.filter(is_default=True).exists():
                PriceList.objects.filter(pk=next(iter(self.price_lists.values()))).update(is_default=True)

    def sync_warehouses(self) -> None:
        """Stores → warehouses; fields staff pinned keep their value (a conflict is recorded)."""
        with transaction.atomic():
            stores = list(self.adapter.iter_warehouses())
            by_erp_id = {w.erp_id: w for w in Warehouse.objects.filter(erp_id__in=[s.erp_id for s in stores])}
            by_name = {
                w.name: w
                for w in Warehouse.objects.filter(name__in=[s.name[:255] for s in stores], erp_id__isnull=True)
            }
            pins = load_pins(Warehouse, [w.pk for w in (*by_erp_id.values(), *by_name.values())])
            for wh in stores:
                local = by_erp_id.get(wh.erp_id) or by_name.get(wh.name[:255])
                values = {
                    "name": wh.name[:255],
                    "code": wh.code[:64],
                    "address": wh.address[:500],
                    "erp_id": wh.erp_id,
                    "active": not wh.archived,
                }
                if local is None:
                    local = Warehouse.objects.create(**values)
                else:
                    values = pins.apply(local.pk, values)
                    if any(getattr(local, k) != v for k, v in values.items()):
                        Warehouse.objects.filter(pk=local.pk).update(**values)
                self.warehouses[wh.erp_id] = local.pk
            pins.record_conflicts()

    def fallback_unit(self) -> int:
        """Services may have no unit in the ERP; ours requires one (ОКЕИ 796, шт)."""
        unit, _ = Unit.objects.get_or_create(okei_code="796", defaults={"name": "штука", "short_name": "шт"})
        return unit.pk


class ProductWriter:
    """Writes one page of products (or kits) in one transaction; unchanged rows are not touched."""

    def __init__(self, backend: Backend, run: SyncRun, refs: References, *, dry_run: bool):
        self.backend, self.run, self.refs, self.dry_run = backend, run, refs, dry_run
        self.content_type = ContentType.objects.get_for_model(Product)
        self.seen: set[str] = set()
        self.max_updated: datetime | None = None
        self.rows_written = 0

    @staticmethod
    def _load_pins(product_ids: list[int]) -> PagePins:
        prices = load_pins(Price, Price.all_objects.filter(product_id__any=product_ids).values("pk"))
        owners = (
            dict(Price.all_objects.filter(pk__any=list(prices.by_object)).values_list("pk", "product_id"))
            if prices.by_object
            else {}
        )
        return PagePins(load_pins(Product, product_ids), prices.signatures_by(owners))

    def hash_page(self, products: list[ErpProduct]) -> list[tuple[ErpProduct, str]]:
        for message in rejected_of(products):
            note_error(self.run, message)
        mapped = []
        for product in products:
            self.seen.add(product.erp_id)
            if product.updated_at and (self.max_updated is None or product.updated_at > self.max_updated):
                self.max_updated = product.updated_at
            mapped.append((product, product_hash(product)))
        return mapped

    def write_page(self, products: list[ErpProduct]) -> None:
        mapped = self.hash_page(products)
        bindings = {
            b.external_id: b
            for b in Binding.objects.filter(
                backend=self.backend,
                content_type=self.content_type,
                external_id__any=[p.erp_id for p, _ in mapped],
            ).only("id", "external_id", "object_id", "content_hash", "remote_updated_at")
        }
        pins = self._load_pins([b.object_id for b in bindings.values()])
        changed = []
        for product, digest in mapped:
            binding = bindings.get(product.erp_id)
            if binding is not None and binding.content_hash == pins.hash(binding.object_id, digest):
                self.run.unchanged += 1
            elif (
                binding is not None
                and binding.remote_updated_at
                and product.updated_at
                and product.updated_at < binding.remote_updated_at
            ):
                self.run.skipped += 1  # an older version than the one applied
            else:
                changed.append((product, digest))
        if not changed:
            return
        try:
            with transaction.atomic():
                self._apply(changed, bindings, pins)
                if self.dry_run:
                    raise DryRunRollback
        except DryRunRollback:
            pass

    def _apply(self, changed: list[tuple[ErpProduct, str]], bindings: dict[str, Binding], pins: PagePins) -> None:
        """Plain tuples all the way down: building model instances costs more than the database here."""
        now = timezone.now()
        erp_ids = [p.erp_id for p, _ in changed]
        bound = {b.object_id: b.external_id for b in bindings.values()}
        # pk, erp_id, article, tracking, archived_at, merged_into of the local rows these ERP products may have
        columns = ("pk", "erp_id", "article", "tracking", "archived_at", "merged_into_id")
        known = {row[0]: row for row in Product.objects.filter(pk__any=list(bound)).values_list(*columns)}
        locals_: dict[str, tuple] = {bound[pk]: row for pk, row in known.items()}
        missing = [e for e in erp_ids if e not in locals_]
        if missing:
            for row in Product.objects.filter(erp_id__any=missing).values_list(*columns):
                locals_[row[1]] = row
        articles = {p.article for p, _ in changed}
        taken = {row[2]: row for row in Product.objects.filter(article__any=articles).values_list(*columns)}
        for product, _ in changed:
            owner = taken.get(product.article)
            if product.erp_id not in locals_ and owner is not None and not owner[1]:
                locals_[product.erp_id] = owner  # an unbound product loaded by hand before: adopt it

        creates: list[tuple] = []
        updates: list[tuple] = []
        accepted: list[tuple[ErpProduct, str]] = []
        fallback_unit = None
        for erp_product, digest in changed:
            local = locals_.get(erp_product.erp_id)
            if local is not None and local[5]:
                # Merged into another product (catalog.merge): its ERP record lives on until archived there;
                # it must neither come back to life nor take back what moved to the survivor.
                self.run.skipped += 1
                continue
            unit_id = self.refs.units.get(erp_product.unit_erp_id or "")
            if unit_id is None:
                if erp_product.kind == "goods":
                    note_error(
                        self.run, f"product {erp_product.article}: unit {erp_product.unit_erp_id} is unknown"
                    )
                    continue
                fallback_unit = fallback_unit or self.refs.fallback_unit()
                unit_id = fallback_unit
            owner = taken.get(erp_product.article)
            if owner is not None and (local is None or owner[0] != local[0]):
                note_error(
                    self.run,
                    f"product {erp_product.erp_id}: article {erp_product.article} is already used "
                    f"by product #{owner[0]}",
                )
                continue
            tracking = erp_product.tracking
            if local is not None and local[3] == Product.Tracking.BATCH and tracking == Product.Tracking.NONE:
                tracking = (
                    Product.Tracking.BATCH
                )  # learnt from the stock's consignments, not the product card
            archived_at = ((local[4] if local else None) or now) if erp_product.archived else None
            row = (
                erp_product.erp_id,
                erp_product.article,
                erp_product.name,
                erp_product.description,
                self.refs.categories.get(erp_product.category_erp_id or ""),
                unit_id,
                erp_product.kind,
                erp_product.vat_rate,
                tracking,
                not erp_product.archived,
                archived_at,
                now,
            )
            if local is not None and local[0] in pins.products:
                row = tuple(pins.products.apply(local[0], dict(zip(PRODUCT_COLUMNS, row, strict=True))).values())
            if local is None:
                creates.append(row)
                taken[erp_product.article] = (
                    None,
                    erp_product.erp_id,
                    erp_product.article,
                    tracking,
                    archived_at,
                    None,
                )
            else:
                updates.append((*row, local[0]))
            accepted.append((erp_product, digest))
        copy_rows(Product, [*PRODUCT_COLUMNS, "created_at"], [(*row, now) for row in creates])
        pks = {row[1]: row[0] for row in known.values()}
        pks.update((row[1], row[0]) for row in locals_.values() if row[1])
        if creates:
            pks.update(
                Product.objects.filter(erp_id__any=[row[0] for row in creates]).values_list("erp_id", "pk")
            )
        update_rows(Product, PRODUCT_COLUMNS, sorted(updates, key=lambda row: row[-1]))
        pins.products.record_conflicts()
        pk_of = {p.erp_id: pks.get(p.erp_id) or locals_[p.erp_id][0] for p, _ in accepted}
        children = self._children(accepted, pk_of)
        children.new_ids = {pk_of[row[0]] for row in creates}
        upsert_children(children, now)
        copy_rows(
            Binding,
            BINDING_COLUMNS,
            [
                (
                    self.backend.pk,
                    self.content_type.pk,
                    pk_of[p.erp_id],
                    p.erp_id,
                    "",
                    p.updated_at,
                    pins.hash(pk_of[p.erp_id], digest),
                    now,
                )
                for p, digest in accepted
            ],
            conflict=("backend_id", "content_type_id", "external_id"),
            update=("object_id", "remote_updated_at", "content_hash", "synced_at"),
        )
        self.run.created += len(creates)
        self.run.updated += len(updates)
        self.rows_written += len(accepted)

    def _children(self, accepted: list[tuple[ErpProduct, str]], pk_of: dict[str, int]) -> DesiredChildren:
        """What the ERP lists as these products' barcodes, packs, prices and kit components, in our ids."""
        desired = DesiredChildren(
            product_ids=[pk_of[p.erp_id] for p, _ in accepted], erp_price_lists=set(self.refs.price_lists.values())
        )
        component_ids = {c.component_erp_id for p, _ in accepted for c in p.components}
        component_pks = (
            dict(Product.objects.filter(erp_id__any=component_ids).values_list("erp_id", "pk"))
            if component_ids
            else {}
        )
        units, price_lists = self.refs.units, self.refs.price_lists
        for erp_product, _ in accepted:
            pk = pk_of[erp_product.erp_id]
            for barcode in erp_product.barcodes:
                desired.barcodes[barcode.value[:64]] = (pk, barcode.kind)
            packs = desired.packs.setdefault(pk, [])
            seen_units = set()
            for pack in erp_product.packs:
                unit_id = units.get(pack.unit_erp_id)
                if unit_id is None or unit_id in seen_units or pack.factor <= 0:
                    continue
                seen_units.add(unit_id)
                packs.append((unit_id, pack.factor, pack.barcodes[0].value[:64] if pack.barcodes else "", pack.erp_id or None))
                for barcode in pack.barcodes:
                    desired.barcodes[barcode.value[:64]] = (pk, barcode.kind)
            for price in erp_product.prices:
                price_list_id = price_lists.get(price.price_list_erp_id)
                if price_list_id is not None and price.amount >= 0:
                    desired.prices[(pk, price_list_id)] = price.amount
            for component in erp_product.components:
                component_pk = component_pks.get(component.component_erp_id)
                if component_pk is None:
                    note_error(
                        self.run,
                        f"kit {erp_product.article}: component {component.component_erp_id} is unknown",
                    )
                    continue
                desired.components[(pk, component_pk)] = component.quantity
        return desired

    def archive_unseen(self) -> int:
        """After a complete full run: products bound to this backend that the ERP no longer lists."""
        bound = Binding.objects.filter(backend=self.backend, content_type=self.content_type)
        gone = [
            object_id
            for external_id, object_id in bound.values_list("external_id", "object_id")
            if external_id not in self.seen
        ]
        if not gone:
            return 0
        return Product.objects.filter(pk__in=gone, active=True).update(
            active=False, archived_at=timezone.now(), updated_at=timezone.now()
        )


def _progress(progress: Callable | None, done: int, total: Total | None = None) -> None:
    if progress is not None:
        progress(done, total.value if total is not None and total.value else None)


def run_pages(
    pages: Iterable[list],
    write: Callable[[list], None],
    run: SyncRun,
    progress: Callable | None,
    done: int = 0,
    total: Total | None = None,
) -> int:
    for page in pages:
        write(page)
        done += len(page)
        run.heartbeat_at = timezone.now()
        run.save(
            update_fields=["created", "updated", "unchanged", "skipped", "failed", "details", "heartbeat_at"]
        )
        _progress(progress, done, total)
    return done


def sync_catalog(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    adapter = erp_adapter(backend)
    cursor = None if full else get_cursor(backend, cursor_name(backend, "catalog"))
    since = cursor - OVERLAP if cursor else None
    with sync_run(backend, "catalog", full=since is None, dry_run=dry_run) as run:
        step("references")
        refs = References(backend, adapter, run)
        refs.sync_units()
        refs.sync_categories()
        refs.sync_price_lists()
        refs.sync_warehouses()
        writer = ProductWriter(backend, run, refs, dry_run=dry_run or backend.dry_run)
        step("products")
        total = Total()  # products, services and kits: each listing's size as its first page arrives
        done = run_pages(adapter.iter_product_pages(since=since, on_size=total.add), writer.write_page, run,
                         progress, total=total)
        step("bundles")
        run_pages(adapter.iter_bundles(since=since, on_size=total.add), writer.write_page, run, progress, done,
                  total=total)
        if since is None and not writer.dry_run:
            run.details["archived_missing"] = writer.archive_unseen()
        run.details["rows_written"] = writer.rows_written
        run.save(update_fields=["details"])
        if writer.max_updated and not writer.dry_run:
            set_cursor(backend, cursor_name(backend, "catalog"),
                       max(writer.max_updated, cursor) if cursor else writer.max_updated)
    return run


def sync_warehouses(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    with sync_run(backend, "warehouses", full=True, dry_run=dry_run) as run:
        refs = References(backend, erp_adapter(backend), run)
        refs.sync_warehouses()
        run.unchanged = len(refs.warehouses)
    return run


def sync_prices(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    """Price types → price lists, then every product's sale prices; unchanged prices are not written."""
    adapter = erp_adapter(backend)
    with sync_run(backend, "prices", full=True, dry_run=dry_run) as run:
        refs = References(backend, adapter, run)
        refs.sync_price_lists()

        def write(page: list[ErpProduct]) -> None:
            for message in rejected_of(page):
                note_error(run, message)
            wanted: dict[tuple[int, int], Decimal] = {}
            products = dict(Product.objects.filter(erp_id__any=[p.erp_id for p in page]).values_list("erp_id", "pk"))
            for product in page:
                pk = products.get(product.erp_id)
                if pk is None:
                    run.skipped += 1  # not in the catalog yet: the catalog sync brings it with its prices
                    continue
                for price in product.prices:
                    price_list_id = refs.price_lists.get(price.price_list_erp_id)
                    if price_list_id is not None:
                        wanted[(pk, price_list_id)] = price.amount
            try:
                with transaction.atomic():
                    created, updated = upsert_prices(
                        list(products.values()), wanted, set(refs.price_lists.values()), timezone.now()
                    )
                    if dry_run:
                        raise DryRunRollback
            except DryRunRollback:
                pass
            run.created += created
            run.updated += updated
            run.unchanged += len(wanted) - created - updated

        run_pages(adapter.iter_product_pages(), write, run, progress)
    return run


def import_product(backend: Backend, product: ErpProduct, *, adapter: ErpAdapter | None = None) -> SyncRun:
    """Apply one product read again (a webhook said it changed, an order names it) like a catalog page;
    the units and folders it needs are synced first when they are new. Raises ValueError when it can't be."""
    run = SyncRun(backend=backend, kind="catalog")
    refs = References(backend, adapter or erp_adapter(backend), run)
    refs.units = dict(Unit.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
    refs.categories = dict(Category.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
    refs.price_lists = dict(PriceList.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
    if product.unit_erp_id and product.unit_erp_id not in refs.units:
        refs.sync_units()
    if product.category_erp_id and product.category_erp_id not in refs.categories:
        refs.sync_categories()
    writer = ProductWriter(backend, run, refs, dry_run=backend.dry_run)
    writer.write_page([product])
    if run.failed:
        raise ValueError("; ".join(run.details.get("errors", [])))
    return run
