"""The dry run with a per-record diff: run it, page and filter the diff, export it, then run the same sync for
real from the same page (and see the real run's own diff)."""

from __future__ import annotations

import csv
import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from integration.errors import IntegrationError
from integration.models import Backend, SyncRun
from integration.syncs import registered_kinds, sync_for

from .permissions import can_run_dry_run
from .sync_diff import dry_run_with_diff, real_run_with_diff, supports

RUN_SYNC = "staff.run_sync"
PAGE_SIZE = 50


def can_run_sync(user) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(RUN_SYNC))


def _filtered(entries: list[dict], *, action: str, model: str, query: str) -> list[dict]:
    query = query.casefold()
    return [e for e in entries
            if (not action or e.get("action") == action) and (not model or e.get("model") == model)
            and (not query or query in f"{e.get('object', '')} {e.get('external_id', '')}".casefold())]


def _export(entries: list[dict], run: SyncRun) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([_("action"), _("model"), _("external id"), _("record"), _("field"), _("before"), _("after")])
    for entry in entries:
        for name, (old, new) in (entry.get("changes") or {"": [None, None]}).items():
            writer.writerow([entry.get("action"), entry.get("model"), entry.get("external_id"), entry.get("object"),
                             name, "" if old is None else old, "" if new is None else new])
    response = HttpResponse(("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sync-{run.kind}-{run.pk}-diff.csv"'
    return response


def sync_diff_view(request, pk: int):
    if not can_run_dry_run(request.user):
        raise PermissionDenied
    backend = get_object_or_404(Backend, pk=pk)
    kinds = [kind for kind in registered_kinds() if supports(kind) and sync_for(kind, backend) is not None]
    here = reverse("staff:backend-sync-diff", args=[backend.pk])
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        if kind not in kinds:
            messages.error(request, _("kind: choose one of %(kinds)s.") % {"kinds": ", ".join(kinds) or "—"})
            return redirect(here)
        real = request.POST.get("real") == "1"
        if real and not can_run_sync(request.user):
            raise PermissionDenied
        full = request.POST.get("full") == "on"
        try:
            outcome = (real_run_with_diff if real else dry_run_with_diff)(kind, backend, full=full)
        except IntegrationError as exc:
            messages.error(request, _("The sync failed: %(error)s") % {"error": exc})
            return redirect(here)
        return redirect(f"{here}?run={outcome.run.pk}")
    runs = SyncRun.objects.filter(backend=backend, kind__in=kinds, details__has_key="diff")
    run = get_object_or_404(runs, pk=int(request.GET["run"])) if request.GET.get("run", "").isdigit() else None
    context = {**admin.site.each_context(request), "title": _("Dry run with a diff: %(name)s") % {"name": backend.name},
               "backend": backend, "kinds": kinds, "run": run, "may_run": can_run_sync(request.user),
               "recent": runs.order_by("-started_at")[:10]}
    if run is not None:
        entries = [e for e in run.details.get("diff") or [] if isinstance(e, dict)]
        chosen = {name: request.GET.get(name, "") for name in ("action", "model", "q")}
        shown = _filtered(entries, action=chosen["action"], model=chosen["model"], query=chosen["q"])
        if request.GET.get("format") == "csv":
            return _export(shown, run)
        page = Paginator(shown, PAGE_SIZE).get_page(request.GET.get("page"))
        query = "&".join(f"{k}={v}" for k, v in chosen.items() if v)
        context.update(page=page, chosen=chosen, query=query, total=run.details.get("diff_total", len(entries)),
                       stored=len(entries), actions=sorted({e.get("action", "") for e in entries}),
                       models=sorted({e.get("model", "") for e in entries}))
    return TemplateResponse(request, "staff/sync_diff.html", context)
