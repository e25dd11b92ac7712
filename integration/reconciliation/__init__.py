"""Reconciliation: do the ERP, the platform and amoCRM agree? (`manage.py reconcile [--repair]`).

Compares, per backend, what each side holds — stock and prices, orders with lines and reserves, documents
and their totals, payments and shipments, the amoCRM deal (budget, stage, products, fields), and the
counterparty and product bindings — and reports every drift with the values on each side and its likely
cause. With `repair=True` what is safe is re-synced from the side that wins (the ERP for master data and
order composition; the platform for the amoCRM deal, re-pushed through the outbox), each repair written to
the integration journal; the rest is recorded as a conflict for staff.

The public API (also used by `manage.py simulate_pilot`):
    reconcile(*, backend=None, repair=False, progress=None) -> ReconcileReport
"""

from __future__ import annotations

from .report import AREAS, Drift, ReconcileReport
from .run import reconcile

__all__ = ["AREAS", "Drift", "ReconcileReport", "reconcile"]
