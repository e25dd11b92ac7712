"""ERP → platform stock, for any ERP adapter: full snapshots (zeros and batches included) and, where the
connector keeps an incremental cursor, refreshes of what changed since it (or of a list of products on demand).

StockLevel rows are the ERP's snapshot only; our own pending reservations live in orders.Reservation,
so a refresh never wipes a reserve the ERP hasn't seen yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.locks import lock_stock_of_products
from catalog.models import Batch, Product, StockLevel, Warehouse
from integration import connectors
from integration.erp.importers.bulk import copy_rows, update_rows
from integration.erp.importers.catalog import References, cursor_name, erp_adapter, note_error, run_pages
from integration.erp.importers.cursors import get_cursor, set_cursor
from integration.erp.protocol import ErpAdapter
from integration.erp.types import ErpBatch, ErpStockChange, ErpStockRow, rejected_of
from integration.models import Backend, SyncRun
from integration.overrides import load_pins
from integration.syncruns import sync_run

OVERLAP = timedelta(seconds=60)
MAX_CHANGED_SINCE = timedelta(hours=23)  # an older cursor means a full run (MoySklad keeps 24 h of changes)
FIGURES = ("on_hand", "reserved", "expected")
STOCK_COLUMNS = ("product_id", "warehouse_id", "batch_id", "on_hand", "reserved", "expected", "snapshot_at")
Key = tuple[int, int, int | None]  # (product, warehouse, batch)


class StockWriter:
    def __init__(self, backend: Backend, run: SyncRun, *, dry_run: bool):
        self.backend, self.run, self.dry_run = backend, run, dry_run
        self.products = dict(Product.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
        self.warehouses = dict(Warehouse.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
        self.batches: dict[str, tuple[int, int]] = {}  # batch erp id → (batch pk, product pk)
        self.rows_written = 0

    def sync_batches(self, batches: Iterable[ErpBatch]) -> dict[str, ErpBatch]:
        """Consignments → Batch rows (and their products become batch-tracked)."""
        known = {batch.erp_id: batch for batch in batches}
        with transaction.atomic():
            rows = [
                (self.products[b.product_erp_id], b.number[:64], b.erp_id)
                for b in known.values()
                if b.product_erp_id in self.products
            ]
            copy_rows(
                Batch,
                ("product_id", "number", "erp_id"),
                rows,
                conflict=("product_id", "number"),
                update=("erp_id",),
            )
            tracked = {row[0] for row in rows}
            Product.objects.filter(pk__in=tracked).exclude(tracking=Product.Tracking.BATCH).update(
                tracking=Product.Tracking.BATCH
            )
        self.batches = {
            erp_id: (pk, product)
            for erp_id, pk, product in Batch.objects.filter(erp_id__in=list(known)).values_list(
                "erp_id", "pk", "product_id"
            )
        }
        return known

    def key_of(self, product_erp_id: str, warehouse_erp_id: str, batch_erp_id: str | None) -> Key | None:
        warehouse = self.warehouses.get(warehouse_erp_id)
        if batch_erp_id:
            batch = self.batches.get(batch_erp_id)
            return (batch[1], warehouse, batch[0]) if batch and warehouse else None
        product = self.products.get(product_erp_id)
        return (product, warehouse, None) if product and warehouse else None

    def write(self, values: dict[Key, dict[str, Decimal]], *, snapshot_at: datetime) -> None:
        """Upsert these rows; only changed figures are written, unchanged rows get a fresh snapshot_at.

        One transaction: the existing rows of these products in these warehouses are locked first, in the one
        stock lock order (`catalog.locks`, as the stock guard takes them), then read and written — only the
        warehouses the page names: a page of one warehouse (1C reads them one by one) reads no other's rows.
        Figures staff pinned (overrides on a StockLevel) keep their value and record a conflict.
        """
        if not values:
            return
        with transaction.atomic():
            existing: dict[Key, tuple] = {
                (row[1], row[2], row[3]): row
                for row in lock_stock_of_products(
                    {k[0] for k in values}, "id", "product_id", "warehouse_id", "batch_id", *FIGURES,
                    warehouse_ids={k[1] for k in values},
                )
            }
            pins = load_pins(StockLevel, [row[0] for row in existing.values()])
            zero = Decimal("0")
            create, update, fresh = [], [], []
            for key, figures in values.items():
                row = existing.get(key)
                if row is None:
                    create.append((*key, *(figures.get(f, zero) for f in FIGURES), snapshot_at))
                    continue
                current = dict(zip(FIGURES, row[4:], strict=True))
                merged = pins.apply(row[0], {**current, **figures})
                if merged != current:
                    update.append((*(merged[f] for f in FIGURES), snapshot_at, row[0]))
                else:
                    fresh.append(row[0])
            self.run.created += len(create)
            self.run.updated += len(update)
            self.run.unchanged += len(fresh)
            if self.dry_run:
                return
            pins.record_conflicts()
            # New rows in key order; one another writer (an on-demand refresh) inserted first is left to it.
            create.sort(key=lambda row: (row[0], row[1], row[2] or 0))
            copy_rows(StockLevel, STOCK_COLUMNS, create, skip_duplicates=True)
            update_rows(
                StockLevel, ["on_hand", "reserved", "expected", "snapshot_at"], sorted(update, key=lambda r: r[-1])
            )
            if fresh:
                StockLevel.objects.filter(pk__any=fresh).update(snapshot_at=snapshot_at)
        self.rows_written += len(create) + len(update)

    def write_rows(self, rows: list[ErpStockRow], *, snapshot_at: datetime) -> None:
        values: dict[Key, dict[str, Decimal]] = {}
        for row in rows:
            key = self.key_of(row.product_erp_id, row.warehouse_erp_id, row.batch_erp_id)
            if key is None:
                self.run.skipped += 1  # a product or store we don't mirror (yet)
                continue
            values[key] = {"on_hand": row.on_hand, "reserved": row.reserved, "expected": row.expected}
        self.write(values, snapshot_at=snapshot_at)

    def write_changes(self, changes: list[ErpStockChange], *, snapshot_at: datetime) -> None:
        values: dict[Key, dict[str, Decimal]] = {}
        for change in changes:
            batch = change.assortment_erp_id if change.assortment_erp_id in self.batches else None
            key = self.key_of(change.assortment_erp_id, change.warehouse_erp_id, batch)
            if key is None:
                self.run.skipped += 1
                continue
            figures = {f: getattr(change, f) for f in FIGURES if getattr(change, f) is not None}
            values.setdefault(key, {}).update(figures)
        self.write(values, snapshot_at=snapshot_at)


def load_batches(writer: StockWriter) -> None:
    writer.batches = {
        erp_id: (pk, product)
        for erp_id, pk, product in Batch.objects.filter(erp_id__isnull=False).values_list(
            "erp_id", "pk", "product_id"
        )
    }


def full_stock(backend: Backend, run: SyncRun, adapter: ErpAdapter, *, dry_run: bool, progress=None) -> None:
    References(backend, adapter, run).sync_warehouses()
    writer = StockWriter(backend, run, dry_run=dry_run)
    writer.sync_batches(adapter.iter_batches())

    def write(page: list[ErpStockRow]) -> None:
        for message in rejected_of(page):
            note_error(run, message)
        writer.write_rows(page, snapshot_at=timezone.now())

    run_pages(adapter.iter_stock(), write, run, progress)
    run.details["rows_written"] = writer.rows_written


def sync_stock(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    """Full: the whole snapshot. Incremental (every 4 min, where the connector keeps a cursor): what changed
    since the cursor, with an overlap; full when there is no cursor or it is older than the change window."""
    adapter = erp_adapter(backend)
    started = timezone.now()
    incremental_cursor = connectors.capabilities_for(backend).incremental_cursor
    cursor = None if full or not incremental_cursor else get_cursor(backend, cursor_name(backend, "stock"))
    incremental = cursor is not None and started - cursor < MAX_CHANGED_SINCE
    dry_run = dry_run or backend.dry_run
    with sync_run(backend, "stock", full=not incremental, dry_run=dry_run) as run:
        if incremental:
            writer = StockWriter(backend, run, dry_run=dry_run)
            load_batches(writer)
            changes = adapter.stock_changed_since(cursor - OVERLAP)
            writer.write_changes(changes, snapshot_at=timezone.now())
            run.details["rows_written"] = writer.rows_written
        else:
            full_stock(backend, run, adapter, dry_run=dry_run, progress=progress)
        run.save(update_fields=["details", "created", "updated", "unchanged", "skipped", "failed"])
        if not dry_run and incremental_cursor:
            set_cursor(backend, cursor_name(backend, "stock"), started)
    return run


def refresh_products(backend: Backend, product_ids: list[int], *, adapter: ErpAdapter | None = None) -> int:
    """Current stock of these products (kits: their components) from the ERP; returns rows written."""
    components = list(
        Product.objects.filter(used_in_kits__kit_id__in=product_ids, used_in_kits__active=True).values_list(
            "pk", flat=True
        )
    )
    ids = set(product_ids) | set(components)
    erp_ids = list(Product.objects.filter(pk__in=ids, erp_id__isnull=False).values_list("erp_id", flat=True))
    if not erp_ids:
        return 0
    changes = (adapter or erp_adapter(backend)).stock_for(erp_ids)
    run = SyncRun(backend=backend, kind="stock")
    writer = StockWriter(backend, run, dry_run=backend.dry_run)
    load_batches(writer)
    writer.write_changes(changes, snapshot_at=timezone.now())
    return writer.rows_written
