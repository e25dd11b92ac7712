"""Charts over time on the dashboard (a template tag) and on a backend's charts page."""

from __future__ import annotations

from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from integration.models import Backend

from .charts import multi_line_chart
from .trends import DEFAULT_PERIOD, PERIODS, build_trends

# A cold 30-day pass over a million-row journal takes seconds (tests/bench/trends.py): the longer periods,
# whose buckets are hours or days wide, are kept longer.
CACHE_SECONDS = {"24h": 60, "7d": 300, "30d": 900}


def trends_key(period: str, backend: Backend | None = None) -> str:
    return f"staff:trends:{get_language()}:{period}:{backend.pk if backend else 'all'}"


def build_trends_context(period: str, backend: Backend | None = None) -> dict:
    """Each chart of the period as SVG, its legend and its numbers as a table (what is cached)."""
    trends = build_trends(period, backend=backend)
    labels = trends.labels
    charts = []
    for chart in trends.charts:
        series = [(line.name, line.values, line.css) for line in chart.lines]
        rows = [{"label": label, "values": [_number(line.values[i]) for line in chart.lines]}
                for i, label in enumerate(labels)]
        charts.append({"key": chart.key, "title": chart.title, "unit": chart.unit, "lines": chart.lines,
                       "svg": multi_line_chart(series, labels, title=chart.title), "rows": rows})
    return {"trends": trends, "charts": charts}


def trends_context(period: str, backend: Backend | None = None) -> dict:
    """What `staff/_trends.html` shows (cached; the dashboard's are computed ahead, see precompute.py)."""
    period = period if period in PERIODS else DEFAULT_PERIOD
    built = cache.get_or_set(trends_key(period, backend), lambda: build_trends_context(period, backend),
                             CACHE_SECONDS[period])
    return {**built, "backend": backend, "periods": [(name, str(spec[2])) for name, spec in PERIODS.items()]}


def _number(value):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


@require_safe
def backend_charts_view(request, pk: int):
    if not request.user.has_perm("integration.view_backend"):
        raise PermissionDenied
    backend = get_object_or_404(Backend, pk=pk)
    context = {
        **admin.site.each_context(request), "title": _("Charts of %(name)s") % {"name": backend.name},
        **trends_context(request.GET.get("period", DEFAULT_PERIOD), backend),
    }
    return TemplateResponse(request, "staff/backend_charts.html", context)
