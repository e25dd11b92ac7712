"""Live progress of long work in the admin: a list of running and recent work, one page per piece of work
with a bar that polls a small JSON endpoint (so it survives a reload), and that endpoint."""

from __future__ import annotations

from dataclasses import asdict

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from integration.models import Progress
from integration.progress import snapshot

from .charts import line_chart

RECENT = 30


def _check(request) -> None:
    if not request.user.has_perm("integration.view_progress"):
        raise PermissionDenied


@require_safe
def progress_list_view(request):
    _check(request)
    running = Progress.objects.filter(status=Progress.Status.RUNNING).select_related("sync_run")
    recent = Progress.objects.exclude(status=Progress.Status.RUNNING).select_related("sync_run")[:RECENT]
    context = {
        **admin.site.each_context(request), "title": _("Work in progress"),
        "running": [snapshot(p) for p in running], "recent": [snapshot(p) for p in recent],
    }
    return TemplateResponse(request, "staff/progress_list.html", context)


@require_safe
def progress_view(request, pk: int):
    _check(request)
    record = get_object_or_404(Progress.objects.select_related("sync_run"), pk=pk)
    snap = snapshot(record)
    labels = [f"{s['t']:g} s" for s in snap.timeline]
    chart = line_chart([s["done"] for s in snap.timeline], labels, title=_("Done over time")) if len(labels) > 1 else ""
    steps = _steps(snap.timeline)
    context = {
        **admin.site.each_context(request), "title": record.label, "progress": snap, "record": record,
        "chart": chart, "steps": steps,
    }
    return TemplateResponse(request, "staff/progress.html", context)


@require_safe
def progress_json_view(request, pk: int):
    _check(request)
    record = get_object_or_404(Progress.objects.select_related("sync_run"), pk=pk)
    data = asdict(snapshot(record))
    if request.GET.get("timeline") != "1":
        data.pop("timeline")
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response


def _steps(timeline: list[dict]) -> list[dict]:
    """The timeline's steps: when each began, and what was done by then."""
    steps: list[dict] = []
    for sample in timeline:
        if sample.get("step") and (not steps or steps[-1]["step"] != sample["step"]):
            steps.append(sample)
    return steps
