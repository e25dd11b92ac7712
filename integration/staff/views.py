"""Staff views under /admin/: the runbook, the kill switch, the dry run and the reconciliation («Сверка»)
(thin; the work is elsewhere)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integration.backends import pause_backend, resume_backend
from integration.errors import IntegrationError
from integration.models import Backend, SyncRun
from integration.syncs import registered_kinds, run_sync, sync_for

from .diff import describe_run
from .forms import DryRunForm, PauseForm
from .models import ReconcileRun
from .permissions import can_pause_backends, can_repair_drift, can_run_dry_run, can_view_reconciliation
from .runbook import load_runbook


def _context(request, title: str, **extra) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


def runbook_view(request):
    runbook = load_runbook(get_language())
    return TemplateResponse(request, "staff/runbook.html", _context(request, runbook.title, runbook=runbook))


def pause_view(request, pk: int):
    if not can_pause_backends(request.user):
        raise PermissionDenied
    backend = get_object_or_404(Backend, pk=pk)
    form = PauseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        pause_backend(backend, reason=form.cleaned_data["reason"], user=request.user)
        messages.warning(request, _("Backend %(name)s is paused; its traffic is held.") % {"name": backend.name})
        return redirect("admin:index")
    title = _("Pause backend %(name)s") % {"name": backend.name}
    return TemplateResponse(request, "staff/pause.html", _context(request, title, backend=backend, form=form))


@require_POST
def resume_view(request, pk: int):
    if not can_pause_backends(request.user):
        raise PermissionDenied
    backend = get_object_or_404(Backend, pk=pk)
    resume_backend(backend, user=request.user)
    messages.success(request, _("Backend %(name)s is resumed; queued events go out in order.") % {"name": backend.name})
    return redirect("admin:index")


def dry_run_view(request, pk: int):
    """Run one sync of the backend with dry_run=True and show what it would change (nothing is written)."""
    if not can_run_dry_run(request.user):
        raise PermissionDenied
    backend = get_object_or_404(Backend, pk=pk)
    kinds = [kind for kind in registered_kinds() if sync_for(kind, backend) is not None]
    form = DryRunForm(request.POST or None, kinds=kinds)
    dry_runs = SyncRun.objects.filter(backend=backend, dry_run=True)
    run = error = None
    if request.method == "POST" and form.is_valid():
        try:
            run = run_sync(form.cleaned_data["kind"], backend, full=form.cleaned_data["full"], dry_run=True)
        except IntegrationError as exc:
            error = str(exc)
    elif request.GET.get("run", "").isdigit():
        # A dry run started here earlier or with `manage.py sync <kind> --dry-run` (large catalogs).
        run = get_object_or_404(dry_runs, pk=int(request.GET["run"]))
    title = _("Dry run of %(name)s") % {"name": backend.name}
    context = _context(
        request, title, backend=backend, form=form, kinds=kinds, run=run, report=describe_run(run) if run else None,
        error=error, recent=dry_runs.order_by("-started_at")[:10],
    )
    return TemplateResponse(request, "staff/dry_run.html", context)


def reconciliation_view(request):
    """«Сверка»: the last reconciliation report with its drifts; integration admins may run it with repair
    (synchronously, like a dry run; a large catalog is left to the nightly schedule or `manage.py reconcile`)."""
    if not can_view_reconciliation(request.user):
        raise PermissionDenied
    may_repair = can_repair_drift(request.user)
    if request.method == "POST":
        if not may_repair:
            raise PermissionDenied
        from integration.reconciliation.runs import reconcile_and_store

        try:
            run, report = reconcile_and_store(repair=True, trigger=ReconcileRun.Trigger.ADMIN, user=request.user)
        except IntegrationError as exc:
            messages.error(request, _("The reconciliation failed: %(error)s") % {"error": exc})
        else:
            messages.success(request, _("Reconciliation done: %(drifts)s drift(s), %(repaired)s repaired.") % {
                "drifts": len(report.drifts), "repaired": report.repaired})
        return redirect("staff:reconcile")
    runs = ReconcileRun.objects.all()
    chosen = request.GET.get("run", "")
    run = get_object_or_404(runs, pk=int(chosen)) if chosen.isdigit() else runs.first()
    context = _context(
        request, _("Reconciliation"), run=run, may_repair=may_repair, recent=runs[:10],
        checked=sorted((run.checked or {}).items()) if run else [],
        hidden=max(0, run.drift_count - len(run.drifts)) if run else 0,
    )
    return TemplateResponse(request, "staff/reconciliation.html", context)
