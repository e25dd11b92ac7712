"""Run the comparisons of every active backend (or one) and gather one report."""

from __future__ import annotations

from collections.abc import Callable

from integration import connectors
from integration.models import Backend

from .report import ReconcileReport

Comparer = Callable[..., ReconcileReport]  # fn(backend, *, repair, progress) -> ReconcileReport


def comparers_for(backend: Backend) -> list[Comparer]:
    """The comparisons that apply to a backend of this kind."""
    if backend.kind not in connectors.kinds():
        return []
    return list(connectors.connector(backend.kind).comparers)


def reconcile(*, backend: Backend | None = None, repair: bool = False, progress=None) -> ReconcileReport:
    """Compare the ERP, the platform and amoCRM for `backend` (default: every active backend); with
    `repair`, re-sync what is safe and record the rest as conflicts. `progress(done, total)` is called
    as areas complete."""
    backends = [backend] if backend is not None else list(Backend.objects.filter(active=True).order_by("name"))
    report = ReconcileReport()
    for one in backends:
        for compare in comparers_for(one):
            report.merge(compare(one, repair=repair, progress=_offset(progress, sum(report.checked.values()))))
    return report


def _offset(progress, before: int):
    """Each comparison counts from zero; the caller sees one count over the whole reconciliation."""
    if progress is None:
        return None
    return lambda done, total=None: progress(before + done, total)
