"""The importers as syncs: a connector registers the ones its adapter serves for its backend kind."""

from __future__ import annotations

from collections.abc import Iterable

from integration import syncs

from . import catalog, counterparties, orders, organization, stock

SYNCS = {
    "catalog": catalog.sync_catalog,
    "warehouses": catalog.sync_warehouses,
    "prices": catalog.sync_prices,
    "stock": stock.sync_stock,
    "counterparties": counterparties.sync_counterparties,
    "orders": orders.sync_orders,
    "organization": organization.sync_organization,
}


def register_syncs(backend_kind: str, areas: Iterable[str] = tuple(SYNCS)) -> None:
    """Register the importers of these areas (default: all) as the syncs of `backend_kind`."""
    for area in areas:
        syncs.register(area, backend_kinds=(backend_kind,))(SYNCS[area])
