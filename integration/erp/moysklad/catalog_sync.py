"""MoySklad's catalog: the syncs are the ERP-agnostic importers (integration.erp.importers.catalog, registered
for MoySklad in apps.py); here, a product a webhook or the reconciliation names is read and applied."""

from __future__ import annotations

from integration.erp.importers.catalog import import_product, sync_catalog, sync_prices, sync_warehouses
from integration.erp.moysklad import mappers
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.models import Backend, SyncRun

__all__ = ["sync_catalog", "sync_prices", "sync_warehouses", "upsert_product"]


def upsert_product(backend: Backend, kind: str, erp_id: str) -> SyncRun:
    """Re-read one product/service/bundle (`kind`: MoySklad's entity) and apply it like a catalog page;
    MappingError when it cannot be."""
    adapter = MoySkladAdapter(backend)
    product = mappers.product(adapter.get_product(kind, erp_id), kind="kit" if kind == "bundle" else None)
    try:
        return import_product(backend, product, adapter=adapter)
    except ValueError as exc:
        raise mappers.MappingError(str(exc)) from exc
