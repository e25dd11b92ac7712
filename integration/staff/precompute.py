"""The dashboard's costly parts computed ahead of visitors: the KPI panel (about a hundred aggregates over 12
weeks and the duplicates scan of the catalog) and the charts over time, for every language, written to the
cache by a schedule a little before they expire — so nobody waits for them (4.7 s with 1M journal entries and
200k outbox events when they were cold: `make bench BENCH=admin_changelists`, dashboard_cold_cache_p95_ms).

It helps the web processes when the cache is shared (Redis, REDIS_URL, as deployed); with a per-process cache
the dashboard still computes them on a miss, as before."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from .dashboard import build_kpi_panel
from .templatetags.staff_tags import KPI_CACHE_SECONDS, kpi_key
from .trends import PERIODS
from .trends_views import CACHE_SECONDS, build_trends_context, trends_key

SCHEDULE_SECONDS = 60  # the schedule's interval
MARGIN = 2 * SCHEDULE_SECONDS  # a value is recomputed this long before it would expire, and kept this much longer


def _refresh(key: str, build: Callable[[], object], seconds: int, now: float) -> bool:
    """Recompute `key` when it is missing or due within MARGIN; True when it was."""
    stamp = f"{key}:computed_at"
    computed_at = cache.get(stamp)
    if cache.has_key(key) and computed_at is not None and now - computed_at < seconds - MARGIN:
        return False
    value = build()
    cache.set_many({key: value, stamp: now}, seconds + MARGIN)
    return True


def precompute_dashboard() -> str:
    """Refresh what is due (run every minute by the schedule «amoerp: dashboard precompute»)."""
    now = time.time()
    refreshed = []
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            if _refresh(kpi_key(), build_kpi_panel, KPI_CACHE_SECONDS, now):
                refreshed.append(f"kpis:{language}")
            for period in PERIODS:
                if _refresh(trends_key(period), lambda period=period: build_trends_context(period),
                            max(CACHE_SECONDS[period], MARGIN + SCHEDULE_SECONDS), now):
                    refreshed.append(f"trends:{period}:{language}")
    return "refreshed " + (", ".join(refreshed) or "nothing")
