"""MoySklad's order flow is the ERP-agnostic importer (integration.erp.importers.orders, registered for MoySklad
in apps.py); the names stay importable from here."""

from integration.erp.importers.orders import (
    apply_order,
    apply_payment,
    apply_shipment,
    local_order,
    sync_orders,
)

__all__ = ["apply_order", "apply_payment", "apply_shipment", "local_order", "sync_orders"]
