"""MoySklad's counterparties: the sync is the ERP-agnostic importer (integration.erp.importers.counterparties,
registered for MoySklad in apps.py); here, one counterparty a webhook names is read again and applied."""

from __future__ import annotations

from integration.erp.importers.counterparties import PageOutcome, Segments, sync_counterparties, write_page
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.models import Backend

__all__ = ["apply_counterparty", "sync_counterparties"]


def apply_counterparty(backend: Backend, erp_id: str) -> PageOutcome:
    """One counterparty re-read and applied (for a `counterparty` webhook)."""
    return write_page([MoySkladAdapter(backend).get_counterparty(erp_id)], Segments())
