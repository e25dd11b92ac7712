"""The per-account request budget (amoCRM: 7 requests/s), shared by every process that talks to the account.

A sliding window of slots: at most `limit` requests may be counted by the server in any `window` (1 s). The
server counts a request on arrival, somewhere between our sending it and its answer coming back, so:
- a slot is granted to a request and held `period` after the grant while the answer is out (7 per 1.15 s; reference
  §11: a client pacing at exactly 1.000 s meets 429s through jitter, and on a loaded host a request granted on time
  may leave 100 ms late — seen with 3 processes × 3 threads on 2 cores);
- once the answer is in, the client settles the slot: it is held until the answer's time + `window` + SETTLE_MARGIN,
  a bound that holds however late the request left or arrived. With answers in ~20 ms that is ~1.04 s instead of
  1.15 s: a sequential pusher (the catalog push) gets 7 requests per ~1.04 s rather than per 1.15 s, and a
  request that came back late holds its slot longer rather than squeezing the next window.
Backends: the database (a row per backend, updated under a row lock — PostgreSQL), Redis
(`settings.AMOERP["REDIS_URL"]`, Lua scripts on the server's clock), or a process-local window (SQLite, one process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import connection

from integration.amocrm.models import RateWindow
from integration.amocrm.sidetx import independent_atomic
from integration.errors import BudgetSpent
from integration.models import Backend
from integration.ratelimit import next_grant, settle

DEFAULT_LIMIT = 7
DEFAULT_PERIOD = 1.15
DEFAULT_WINDOW = 1.0  # amoCRM's "7 requests per second", counted on arrival
# After the answer the bound is exact (arrival ≤ answer; the next request arrives no sooner than it leaves): the
# margin only covers clock and timer granularity, not network jitter as the grant's `period` must.
SETTLE_MARGIN = 0.02


@dataclass(frozen=True)
class Grant:
    """A slot taken in the window: `at` is its entry there (what settle() looks for; `entry`: as Redis stored it),
    `waited` the seconds slept."""

    at: float
    waited: float
    entry: str = ""


@dataclass(frozen=True)
class Answered:
    """The answer to the request of `grant` came in `ago` seconds before now: settled with the next take()."""

    grant: Grant
    ago: float


class Limiter(Protocol):
    def acquire(self, max_wait: float | None = None) -> float:
        """Block until a request may be sent; returns the seconds waited. A wait longer than `max_wait` is not
        taken: BudgetSpent is raised and no grant is reserved."""

    def take(self, max_wait: float | None = None, answered: Answered | None = None) -> Grant:
        """As acquire(), returning the grant so that it can be settled when the answer is in. `answered`: settle
        the previous request's slot first, in the same step (one round trip to the shared window, not two); it is
        settled even when BudgetSpent is raised."""

    def settle(self, grant: Grant) -> None:
        """The answer to the request of `grant` is in (or it failed): hold its slot until now + window + margin."""


def _granted(wait: float, max_wait: float | None) -> bool:
    return max_wait is None or wait <= max_wait


class LocalLimiter:
    """One process: a window in memory (the SQLite fallback, and a building block for tests)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 window: float = DEFAULT_WINDOW):
        self.limit, self.period, self.clock, self.sleep = limit, period, clock, sleep
        self.hold = window + SETTLE_MARGIN
        self.grants: list[float] = []
        self.lock = threading.Lock()

    def acquire(self, max_wait: float | None = None) -> float:
        return self.take(max_wait).waited

    def take(self, max_wait: float | None = None, answered: Answered | None = None) -> Grant:
        with self.lock:
            now = self.clock()
            if answered is not None:
                self.grants = settle(self.grants, answered.grant.at, now - answered.ago + self.hold, self.period)
            start, grants = next_grant(self.grants, now, self.limit, self.period)
            wait = start - now
            if not _granted(wait, max_wait):
                raise BudgetSpent(wait)
            self.grants = grants
        if wait > 0:
            self.sleep(wait)
        return Grant(start, max(wait, 0.0))

    def settle(self, grant: Grant) -> None:
        with self.lock:
            self.grants = settle(self.grants, grant.at, self.clock() + self.hold, self.period)


class DatabaseLimiter:
    """Every process: the window lives in RateWindow, read and written under SELECT … FOR UPDATE."""

    def __init__(self, backend: Backend, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD,
                 window: float = DEFAULT_WINDOW):
        self.backend_id = backend.pk
        self.limit, self.period, self.hold = limit, period, window + SETTLE_MARGIN
        RateWindow.objects.get_or_create(backend_id=self.backend_id)

    def acquire(self, max_wait: float | None = None) -> float:
        return self.take(max_wait).waited

    def take(self, max_wait: float | None = None, answered: Answered | None = None) -> Grant:
        with independent_atomic() as using:
            window = RateWindow.objects.using(using).select_for_update().get(backend_id=self.backend_id)
            now = time.time()
            held = [float(g) for g in window.grants]
            if answered is not None:
                held = settle(held, answered.grant.at, now - answered.ago + self.hold, self.period)
            start, grants = next_grant(held, now, self.limit, self.period)
            wait = start - now
            if _granted(wait, max_wait) or answered is not None:
                window.grants = grants if _granted(wait, max_wait) else held
                window.save(using=using, update_fields=["grants"])
        if not _granted(wait, max_wait):
            raise BudgetSpent(wait)
        if wait > 0:
            time.sleep(wait)
        return Grant(start, max(wait, 0.0))

    def settle(self, grant: Grant) -> None:
        free_at = time.time() + self.hold
        with independent_atomic() as using:
            window = RateWindow.objects.using(using).select_for_update().get(backend_id=self.backend_id)
            grants = [float(g) for g in window.grants]
            settled = settle(grants, grant.at, free_at, self.period)
            if settled is not grants:
                window.grants = settled
                window.save(using=using, update_fields=["grants"])


REDIS_SCRIPT = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[4] ~= '' then
  -- settle the previous request's slot first (ARGV[4]: its entry, ARGV[5]: seconds since its answer, ARGV[6]: hold)
  local entries = redis.call('LRANGE', KEYS[1], 0, -1)
  local values = {}
  local found = false
  for i, entry in ipairs(entries) do
    if not found and entry == ARGV[4] then
      values[i] = now - tonumber(ARGV[5]) + tonumber(ARGV[6]) - period
      found = true
    else
      values[i] = tonumber(entry)
    end
  end
  if found then
    table.sort(values)
    redis.call('DEL', KEYS[1])
    for _, value in ipairs(values) do redis.call('RPUSH', KEYS[1], tostring(value)) end
    redis.call('EXPIRE', KEYS[1], 60)
  end
end
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
local entry = tostring(start)
redis.call('RPUSH', KEYS[1], entry)
redis.call('LTRIM', KEYS[1], -limit, -1)
redis.call('EXPIRE', KEYS[1], 60)
return tostring(start - now) .. ' ' .. entry
"""

# ARGV: the grant's entry (as the acquire script stored it), hold, period. Replaces the entry by now + hold − period
# and keeps the list sorted (integration.ratelimit.settle).
REDIS_SETTLE_SCRIPT = """
local hold = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local values = {}
local found = false
for i, entry in ipairs(entries) do
  if not found and entry == ARGV[1] then
    values[i] = now + hold - period
    found = true
  else
    values[i] = tonumber(entry)
  end
end
if not found then return 0 end
table.sort(values)
redis.call('DEL', KEYS[1])
for _, value in ipairs(values) do redis.call('RPUSH', KEYS[1], tostring(value)) end
redis.call('EXPIRE', KEYS[1], 60)
return 1
"""


class RedisLimiter:
    """Every process on every host: the window is a Redis list, updated atomically by a Lua script (the
    server's clock, so hosts' clocks don't matter)."""

    def __init__(self, backend: Backend, url: str, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD,
                 window: float = DEFAULT_WINDOW):
        from integration.redis_client import redis_client

        self.client = redis_client(url)
        self.script = self.client.register_script(REDIS_SCRIPT)
        self.settle_script = self.client.register_script(REDIS_SETTLE_SCRIPT)
        self.key = f"amoerp:amocrm:rate:{backend.pk}"
        self.limit, self.period, self.hold = limit, period, window + SETTLE_MARGIN

    def acquire(self, max_wait: float | None = None) -> float:
        return self.take(max_wait).waited

    def take(self, max_wait: float | None = None, answered: Answered | None = None) -> Grant:
        settling = [answered.grant.entry, answered.ago, self.hold] if answered is not None else ["", 0, 0]
        answer = self.script(keys=[self.key],
                             args=[self.limit, self.period, -1 if max_wait is None else max_wait, *settling])
        answer = answer.decode() if isinstance(answer, bytes) else str(answer)
        if answer.startswith("spent "):
            raise BudgetSpent(float(answer.removeprefix("spent ")))
        wait_text, entry = answer.split(" ", 1)
        wait = float(wait_text)
        if wait > 0:
            time.sleep(wait)
        return Grant(float(entry), max(wait, 0.0), entry)

    def settle(self, grant: Grant) -> None:
        self.settle_script(keys=[self.key], args=[grant.entry, self.hold, self.period])


_local_limiters: dict[int, LocalLimiter] = {}
_local_lock = threading.Lock()


def limiter_for(backend: Backend) -> Limiter:
    """The limiter every client of this backend shares: Redis if configured, else the database on PostgreSQL,
    else a process-local one."""
    limit = int(backend.settings.get("rate_limit", DEFAULT_LIMIT))
    period = float(backend.settings.get("rate_period", DEFAULT_PERIOD))
    window = float(backend.settings.get("rate_window", DEFAULT_WINDOW))
    redis_url = settings.AMOERP.get("REDIS_URL")
    if redis_url:
        return RedisLimiter(backend, redis_url, limit, period, window)
    if connection.vendor == "postgresql":
        return DatabaseLimiter(backend, limit, period, window)
    with _local_lock:
        limiter = _local_limiters.get(backend.pk)
        if limiter is None or (limiter.limit, limiter.period, limiter.hold) != (limit, period, window + SETTLE_MARGIN):
            limiter = _local_limiters[backend.pk] = LocalLimiter(limit, period, window=window)
        return limiter
