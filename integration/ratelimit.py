"""The sliding window the per-account request budgets share (amoCRM: integration.amocrm.ratelimit, MoySklad:
integration.erp.moysklad.ratelimit): a list of grant times, one entry per unit of weight."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deferrable: ContextVar[float | None] = ContextVar("deferrable", default=None)


@contextmanager
def deferrable(max_wait: float) -> Iterator[None]:
    """Within this block a client may refuse to wait more than `max_wait` seconds for its first request (raising
    BudgetSpent, nothing sent): the outbox relay defers such a delivery rather than hold a worker that other
    remotes' events wait for."""
    token = _deferrable.set(max_wait)
    try:
        yield
    finally:
        _deferrable.reset(token)


def max_wait() -> float | None:
    """How long a first request may wait for the budget here; None: as long as it takes."""
    return _deferrable.get()


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


def settle(grants: list[float], granted_at: float, free_at: float, period: float) -> list[float]:
    """The window once the answer to the request granted at `granted_at` is in: the server counted it on arrival,
    which came before the answer, so its slot is held until `free_at` (the answer's time + the server's window + a
    margin) instead of `period` after the grant — shorter when the answer came fast, longer when it came late. The
    entry becomes `free_at − period` (next_grant adds the period back); the window stays sorted. An entry already
    pushed out of the window is left alone."""
    if granted_at not in grants:
        return grants
    settled = list(grants)
    settled[settled.index(granted_at)] = free_at - period
    return sorted(settled)

