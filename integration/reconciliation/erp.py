"""ERP (MoySklad) ↔ platform comparisons."""

from __future__ import annotations

from integration.models import Backend

from .report import ReconcileReport


def compare_erp(backend: Backend, *, repair: bool = False, progress=None) -> ReconcileReport:
    return ReconcileReport()
