"""«Готовность к запуску»: the pre-launch checklist page, its export and the acknowledgement of a check."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from .readiness import CheckResult, Offender, overall, run_readiness, spec_codes
from .readiness_acks import acknowledge_check, last_run
from .readiness_export import export_csv, export_xlsx

VIEW_READINESS = "staff.view_readinessrun"
ACKNOWLEDGE = "staff.add_readinessack"


def can_view_readiness(user) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(VIEW_READINESS))


def can_acknowledge(user) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(ACKNOWLEDGE))


def _stored_results() -> list[CheckResult] | None:
    run = last_run()
    if run is None:
        return None
    results = []
    for row in run.results:
        offenders = [Offender(**offender) for offender in row.get("offenders", [])]
        fields = {k: v for k, v in row.items() if k not in ("offenders", "settled")}
        results.append(CheckResult(**fields, offenders=offenders))
    return results


@require_safe
def readiness_view(request):
    """Runs every check (live requests to both backends included) and shows the result; `?stored=1` shows the
    last stored run without running (a large catalog)."""
    if not can_view_readiness(request.user):
        raise PermissionDenied
    results = _stored_results() if request.GET.get("stored") else None
    run_at = last_run().created_at if results is not None else timezone.now()
    if results is None:
        results = run_readiness(user=request.user)
    context = {
        **admin.site.each_context(request), "title": _("Launch readiness"), "results": results,
        "overall": overall(results), "may_acknowledge": can_acknowledge(request.user),
        "settled": sum(1 for r in results if r.settled), "run_at": run_at,
    }
    return TemplateResponse(request, "staff/readiness.html", context)


@require_safe
def readiness_export_view(request, fmt: str):
    if not can_view_readiness(request.user):
        raise PermissionDenied
    results = _stored_results() or run_readiness(user=request.user)
    base = request.build_absolute_uri("/").rstrip("/")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        body, mime = export_csv(results, base), "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        body, mime = export_xlsx(results, base), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        raise Http404
    response = HttpResponse(body, content_type=mime)
    response["Content-Disposition"] = f'attachment; filename="readiness-{stamp}.{fmt}"'
    return response


@require_POST
def readiness_acknowledge_view(request, code: str):
    if not can_acknowledge(request.user):
        raise PermissionDenied
    if code not in spec_codes():
        raise Http404
    count = request.POST.get("count", "")
    if not count.isdigit():
        messages.error(request, _("count: a whole number of offenders is required."))
        return redirect("staff:readiness")
    acknowledge_check(code, int(count), user=request.user, note=request.POST.get("note", "")[:500])
    messages.success(request, _("The check is acknowledged; it no longer holds the launch back."))
    return redirect("staff:readiness")
