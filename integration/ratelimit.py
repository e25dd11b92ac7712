"""The sliding window the per-account request budgets share (amoCRM: integration.amocrm.ratelimit, MoySklad:
integration.erp.moysklad.ratelimit): a list of grant times, one entry per unit of weight."""

from __future__ import annotations


def next_grant(grants: list[float], now: float, limit: int, period: float, weight: int = 1, spacing: float = 0.0
               ) -> tuple[float, list[float]]:
    """When the next request of `weight` units may start — no more than `limit` units in any `period`, and at
    least `spacing` seconds after the previous one — and the window to store (sorted, at most `limit` entries)."""
    start = now
    if grants:
        start = max(start, grants[-1] + spacing)
    if len(grants) > limit - weight:
        start = max(start, grants[-(limit - weight + 1)] + period)
    return start, (grants + [start] * weight)[-limit:]
