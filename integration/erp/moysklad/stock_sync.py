"""MoySklad's stock: the sync is the ERP-agnostic importer (integration.erp.importers.stock, registered for
MoySklad in apps.py); here, the on-demand refresh without retries and the `webhookstock` announcements."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from integration.erp.importers import stock
from integration.erp.importers.stock import MAX_CHANGED_SINCE, OVERLAP, StockWriter, load_batches, sync_stock
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.models import Backend, SyncRun

__all__ = ["refresh_changed_since", "refresh_products", "sync_stock"]


def refresh_products(backend: Backend, product_ids: list[int]) -> int:
    """Current stock of these products (kits: their components) from `/current`; returns rows written."""
    adapter = MoySkladAdapter(backend)
    adapter.client.read_attempts = 1  # on demand, inside the caller's time budget: no retries
    return stock.refresh_products(backend, product_ids, adapter=adapter)


def refresh_changed_since(backend: Backend, since: datetime) -> int:
    """Stock changed since `since` (a `webhookstock` announcement), from our own `/current` report request —
    the announced reportUrl is a hint, never fetched; clamped to MoySklad's 24 h window. Returns rows written."""
    since = max(since - OVERLAP, timezone.now() - MAX_CHANGED_SINCE)
    changes = MoySkladAdapter(backend).stock_changed_since(since)
    writer = StockWriter(backend, SyncRun(backend=backend, kind="stock"), dry_run=backend.dry_run)
    load_batches(writer)
    writer.write_changes(changes, snapshot_at=timezone.now())
    return writer.rows_written
