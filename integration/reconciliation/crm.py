"""Platform ↔ amoCRM comparisons (deals and catalog elements)."""

from __future__ import annotations

from integration.models import Backend

from .report import ReconcileReport


def compare_crm(backend: Backend, *, repair: bool = False, progress=None) -> ReconcileReport:
    return ReconcileReport()
