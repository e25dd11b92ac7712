from django import template
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import get_language

from integration.models import Conflict, OutboxEvent

from ..dashboard import build_dashboard, build_kpi_panel
from ..links import changelist_url
from ..permissions import can_pause_backends, can_run_dry_run
from ..timeline import build_timeline

register = template.Library()
KPI_CACHE_SECONDS = 300


@register.simple_tag(takes_context=True)
def staff_dashboard(context):
    """The dashboard's data and what the current user may do with it."""
    user = context["request"].user
    return {
        "data": build_dashboard(),
        "kpis": kpi_panel(),
        "can_pause": can_pause_backends(user),
        "can_dry_run": can_run_dry_run(user),
        "dead_letters_url": changelist_url(OutboxEvent, status__exact=OutboxEvent.Status.DEAD),
        "conflicts_url": changelist_url(Conflict, status__exact=Conflict.Status.OPEN),
    }


def kpi_key() -> str:
    return f"staff:kpis:{get_language()}:{timezone.localdate().isoformat()}"


def kpi_panel():
    """The KPI panel is about a hundred aggregate queries over 12 weeks: computed at most every few minutes (and
    ahead of visitors, see precompute.py)."""
    return cache.get_or_set(kpi_key(), build_kpi_panel, KPI_CACHE_SECONDS)


@register.filter
def outbox_url(backend, status: str = "") -> str:
    filters = {"backend__id__exact": backend.pk}
    if status:
        filters["status__exact"] = status
    return changelist_url(OutboxEvent, **filters)


@register.simple_tag
def order_timeline(order):
    """The order's timeline entries, newest first (empty on the add page)."""
    if order is None or order.pk is None:
        return []
    return build_timeline(order)


@register.simple_tag(takes_context=True)
def staff_trends(context):
    """The dashboard's charts over time for the period in ?period= (24h, 7d, 30d)."""
    from ..trends_views import trends_context

    return trends_context(context["request"].GET.get("period", ""))
