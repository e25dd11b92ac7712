"""A reconciliation run stored for the «Сверка» page (staff.ReconcileRun): started, reported, finished."""

from __future__ import annotations

from dataclasses import asdict

from django.utils import timezone

from integration.models import Backend, Progress
from integration.progress import chain, tracked

from .report import ReconcileReport
from .run import reconcile


def reconcile_and_store(
    *, backend: Backend | None = None, repair: bool = False, trigger: str = "manual", user=None, progress=None
):
    """Run `reconcile` and store its report; returns (the run, the report). A failure is stored, then raised."""
    from integration.staff.models import ReconcileRun

    run = ReconcileRun.objects.create(
        backend_name=backend.name if backend else "", repair=repair, trigger=trigger,
        started_by=user if user is not None and user.is_authenticated else None,
    )
    label = f"reconcile {backend.name if backend else ''}".strip() + (" (repair)" if repair else "")
    try:
        with tracked(Progress.Operation.RECONCILE, label, reference=f"reconcile:{run.pk}") as tracker:
            report = reconcile(backend=backend, repair=repair, progress=chain(tracker, progress))
    except Exception as exc:
        run.status, run.error, run.finished_at = ReconcileRun.Status.FAILED, f"{type(exc).__name__}: {exc}", timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    store_report(run, report)
    return run, report


def store_report(run, report: ReconcileReport) -> None:
    run.status = run.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.checked = report.checked
    run.drift_count = len(report.drifts)
    run.repaired = report.repaired
    # Open drifts first: those are what staff must look at when the list is cut.
    ordered = sorted(report.drifts, key=lambda d: d.repaired)
    run.drifts = [asdict(d) for d in ordered[: run.MAX_STORED_DRIFTS]]
    run.save(update_fields=["status", "finished_at", "checked", "drift_count", "repaired", "drifts"])
