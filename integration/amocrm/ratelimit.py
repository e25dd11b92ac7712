"""The per-account request budget (amoCRM: 7 requests/s), shared by every process that talks to the account.

A sliding window of grant times: the n-th request may start no earlier than `period` after the (n − limit)-th.
We pace 7 per 1.15 s (reference §11: the server counts arrivals, so a client pacing at exactly 1.000 s meets
429s through jitter; on a loaded host a request granted on time may leave 100 ms late, squeezing the next
window — seen with 3 processes × 3 threads on 2 cores). Backends: the database (a row per backend, updated under a row lock — PostgreSQL), Redis
(`settings.AMOERP["REDIS_URL"]`, a Lua script), or a process-local window (SQLite, one process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings
from django.db import connection

from integration.amocrm.models import RateWindow
from integration.amocrm.sidetx import independent_atomic
from integration.errors import BudgetSpent
from integration.models import Backend
from integration.ratelimit import next_grant

DEFAULT_LIMIT = 7
DEFAULT_PERIOD = 1.15


class Limiter(Protocol):
    def acquire(self, max_wait: float | None = None) -> float:
        """Block until a request may be sent; returns the seconds waited. A wait longer than `max_wait` is not
        taken: BudgetSpent is raised and no grant is reserved."""


def _granted(wait: float, max_wait: float | None) -> bool:
    return max_wait is None or wait <= max_wait


class LocalLimiter:
    """One process: a window in memory (the SQLite fallback, and a building block for tests)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.limit, self.period, self.clock, self.sleep = limit, period, clock, sleep
        self.grants: list[float] = []
        self.lock = threading.Lock()

    def acquire(self, max_wait: float | None = None) -> float:
        with self.lock:
            now = self.clock()
            start, grants = next_grant(self.grants, now, self.limit, self.period)
            wait = start - now
            if not _granted(wait, max_wait):
                raise BudgetSpent(wait)
            self.grants = grants
        if wait > 0:
            self.sleep(wait)
        return max(wait, 0.0)


class DatabaseLimiter:
    """Every process: the window lives in RateWindow, read and written under SELECT … FOR UPDATE."""

    def __init__(self, backend: Backend, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD):
        self.backend_id = backend.pk
        self.limit, self.period = limit, period
        RateWindow.objects.get_or_create(backend_id=self.backend_id)

    def acquire(self, max_wait: float | None = None) -> float:
        with independent_atomic() as using:
            window = RateWindow.objects.using(using).select_for_update().get(backend_id=self.backend_id)
            now = time.time()
            start, grants = next_grant([float(g) for g in window.grants], now, self.limit, self.period)
            wait = start - now
            if _granted(wait, max_wait):
                window.grants = grants
                window.save(using=using, update_fields=["grants"])
        if not _granted(wait, max_wait):
            raise BudgetSpent(wait)
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)


REDIS_SCRIPT = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local start = now
local n = redis.call('LLEN', KEYS[1])
if n > 0 then
  local last = tonumber(redis.call('LINDEX', KEYS[1], -1))
  if last > start then start = last end
end
if n >= limit then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -limit)) + period
  if oldest > start then start = oldest end
end
if max_wait >= 0 and start - now > max_wait then return 'spent ' .. tostring(start - now) end
redis.call('RPUSH', KEYS[1], tostring(start))
redis.call('LTRIM', KEYS[1], -limit, -1)
redis.call('EXPIRE', KEYS[1], 60)
return tostring(start - now)
"""


class RedisLimiter:
    """Every process on every host: the window is a Redis list, updated atomically by a Lua script (the
    server's clock, so hosts' clocks don't matter)."""

    def __init__(self, backend: Backend, url: str, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD):
        from integration.redis_client import redis_client

        self.client = redis_client(url)
        self.script = self.client.register_script(REDIS_SCRIPT)
        self.key = f"amoerp:amocrm:rate:{backend.pk}"
        self.limit, self.period = limit, period

    def acquire(self, max_wait: float | None = None) -> float:
        answer = self.script(keys=[self.key], args=[self.limit, self.period, -1 if max_wait is None else max_wait])
        answer = answer.decode() if isinstance(answer, bytes) else str(answer)
        if answer.startswith("spent "):
            raise BudgetSpent(float(answer.removeprefix("spent ")))
        wait = float(answer)
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)


_local_limiters: dict[int, LocalLimiter] = {}
_local_lock = threading.Lock()


def limiter_for(backend: Backend) -> Limiter:
    """The limiter every client of this backend shares: Redis if configured, else the database on PostgreSQL,
    else a process-local one."""
    limit = int(backend.settings.get("rate_limit", DEFAULT_LIMIT))
    period = float(backend.settings.get("rate_period", DEFAULT_PERIOD))
    redis_url = settings.AMOERP.get("REDIS_URL")
    if redis_url:
        return RedisLimiter(backend, redis_url, limit, period)
    if connection.vendor == "postgresql":
        return DatabaseLimiter(backend, limit, period)
    with _local_lock:
        limiter = _local_limiters.get(backend.pk)
        if limiter is None or (limiter.limit, limiter.period) != (limit, period):
            limiter = _local_limiters[backend.pk] = LocalLimiter(limit, period)
        return limiter
