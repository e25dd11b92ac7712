"""MoySklad's request budget per account — 45 units / 3 s (a full stock report weighs 5) and at most 5 requests
in flight — shared by every process and host that talks to the account, like amoCRM's (integration.amocrm.ratelimit).

We pace 40 units per 3 s, and requests at least 3/45 s apart: the window is a list of grant times, one entry per
unit, and a request of weight w may start once the window holds at most 40 − w entries newer than 3 s. The margin
and the spacing absorb the scheduling delay between a grant and the request leaving (on a loaded host a burst
of grants leaves late and squeezes the next window: 47 units in 3 s measured with 42 and no spacing).
In-flight slots are leases with an expiry, so a process killed mid-request frees its slot after SLOT_TTL.
Backends: Redis (`settings.AMOERP["REDIS_URL"]`, Lua scripts on the server's clock), the database (the backend's
RateWindow row under SELECT … FOR UPDATE, PostgreSQL's clock), or process-local (SQLite, one process).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from django.conf import settings
from django.db import connection, connections

from integration.amocrm.models import RateWindow
from integration.amocrm.sidetx import independent_atomic
from integration.models import Backend
from integration.ratelimit import next_grant

CAPACITY = 40
WINDOW = 3.0
SERVER_CAPACITY = 45  # MoySklad's own limit per window: the least spacing between two grants is WINDOW / 45
PARALLEL = 5
SLOT_POLL = 0.02
SLOT_TTL = 120.0  # longer than any request (HTTP timeout) may take


class Limiter(Protocol):
    def acquire(self, weight: int) -> float:
        """Block until a request of this weight may start; returns the seconds waited."""

    def slot(self) -> AbstractContextManager[None]:
        """Hold one of the account's in-flight slots for the duration of a request."""

    def penalise(self, seconds: float) -> None:
        """The server answered 429 with Retry-After: nobody sends before `seconds` from now."""


class LocalLimiter:
    """One process: the window and the slots in memory (the SQLite fallback)."""

    def __init__(self, capacity: int = CAPACITY, window: float = WINDOW, parallel: int = PARALLEL):
        self.capacity, self.window = capacity, window
        self.spacing = window / SERVER_CAPACITY
        self.grants: list[float] = []
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(parallel)

    def acquire(self, weight: int) -> float:
        with self.lock:
            now = time.time()
            start, self.grants = next_grant(self.grants, now, self.capacity, self.window, weight, self.spacing)
        return _sleep_until(start, now)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self.slots:
            yield

    def penalise(self, seconds: float) -> None:
        with self.lock:
            self.grants = blocked_window(time.time(), seconds, self.capacity, self.window)


def blocked_window(now: float, seconds: float, capacity: int, window: float) -> list[float]:
    """A full window whose first unit frees at now + seconds, then one every window / capacity (a steady pace
    after the wait, not a burst that meets the next 429)."""
    return [now + seconds - window + i * window / capacity for i in range(capacity)]


def _sleep_until(start: float, now: float) -> float:
    wait = start - now
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


class DatabaseLimiter:
    """Every process and host on one PostgreSQL: the backend's RateWindow row holds
    `{"grants": [...], "inflight": {token: expiry}}`, read and written under a row lock, on the database's clock."""

    def __init__(self, backend: Backend, capacity: int = CAPACITY, window: float = WINDOW, parallel: int = PARALLEL):
        self.backend_id = backend.pk
        self.capacity, self.window, self.parallel = capacity, window, parallel
        self.spacing = window / SERVER_CAPACITY
        RateWindow.objects.get_or_create(backend_id=self.backend_id)

    @contextmanager
    def _locked(self) -> Iterator[tuple[dict, float, RateWindow, str]]:
        with independent_atomic() as using:
            row = RateWindow.objects.using(using).select_for_update().get(backend_id=self.backend_id)
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT extract(epoch from clock_timestamp())")
                now = float(cursor.fetchone()[0])
            state = row.grants if isinstance(row.grants, dict) else {}
            state.setdefault("grants", [])
            state.setdefault("inflight", {})
            yield state, now, row, using
            row.grants = state
            row.save(using=using, update_fields=["grants"])

    def acquire(self, weight: int) -> float:
        with self._locked() as (state, now, _row, _using):
            start, state["grants"] = next_grant([float(g) for g in state["grants"]], now, self.capacity,
                                                self.window, weight, self.spacing)
        return _sleep_until(start, now)

    @contextmanager
    def slot(self) -> Iterator[None]:
        token = secrets.token_hex(8)
        while True:
            with self._locked() as (state, now, _row, _using):
                state["inflight"] = {k: v for k, v in state["inflight"].items() if v > now}
                taken = len(state["inflight"]) < self.parallel
                if taken:
                    state["inflight"][token] = now + SLOT_TTL
            if taken:
                break
            time.sleep(SLOT_POLL)
        try:
            yield
        finally:
            with self._locked() as (state, _now, _row, _using):
                state["inflight"].pop(token, None)

    def penalise(self, seconds: float) -> None:
        with self._locked() as (state, now, _row, _using):
            state["grants"] = blocked_window(now, seconds, self.capacity, self.window)


ACQUIRE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local spacing = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local start = now
local n = redis.call('LLEN', KEYS[1])
if n > 0 then
  local last = tonumber(redis.call('LINDEX', KEYS[1], -1)) + spacing
  if last > start then start = last end
end
if n > capacity - weight then
  local bound = tonumber(redis.call('LINDEX', KEYS[1], -(capacity - weight + 1))) + window
  if bound > start then start = bound end
end
for i = 1, weight do redis.call('RPUSH', KEYS[1], tostring(start)) end
redis.call('LTRIM', KEYS[1], -capacity, -1)
redis.call('EXPIRE', KEYS[1], 600)
return tostring(start - now)
"""

SLOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], 600)
  return 1
end
return 0
"""

PENALISE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local first = now + tonumber(ARGV[1]) - tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
redis.call('DEL', KEYS[1])
for i = 0, capacity - 1 do redis.call('RPUSH', KEYS[1], tostring(first + i * tonumber(ARGV[2]) / capacity)) end
redis.call('EXPIRE', KEYS[1], 600)
return 1
"""


class RedisLimiter:
    """Every process on every host: the window is a Redis list and the slots a sorted set of expiring leases,
    changed atomically by Lua scripts on the server's clock."""

    def __init__(self, backend: Backend, url: str, capacity: int = CAPACITY, window: float = WINDOW,
                 parallel: int = PARALLEL):
        from integration.redis_client import redis_client

        client = redis_client(url)
        self.acquire_script = client.register_script(ACQUIRE_SCRIPT)
        self.slot_script = client.register_script(SLOT_SCRIPT)
        self.penalise_script = client.register_script(PENALISE_SCRIPT)
        self.client = client
        self.key = f"amoerp:moysklad:rate:{backend.pk}"
        self.slots_key = f"amoerp:moysklad:slots:{backend.pk}"
        self.capacity, self.window, self.parallel = capacity, window, parallel

    def acquire(self, weight: int) -> float:
        wait = float(self.acquire_script(keys=[self.key], args=[self.capacity, self.window, weight,
                                                                 self.window / SERVER_CAPACITY]))
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)

    @contextmanager
    def slot(self) -> Iterator[None]:
        token = secrets.token_hex(8)
        while not int(self.slot_script(keys=[self.slots_key], args=[self.parallel, SLOT_TTL, token])):
            time.sleep(SLOT_POLL)
        try:
            yield
        finally:
            self.client.zrem(self.slots_key, token)

    def penalise(self, seconds: float) -> None:
        self.penalise_script(keys=[self.key], args=[seconds, self.window, self.capacity])


_local: dict[int, LocalLimiter] = {}
_local_lock = threading.Lock()


def limiter_for(backend: Backend) -> Limiter:
    """The limiter every client of this account shares: Redis if configured, else the database on PostgreSQL,
    else one per process."""
    options = backend.settings or {}
    capacity = int(options.get("rate_capacity", CAPACITY))
    window = float(options.get("rate_window", WINDOW))
    parallel = int(options.get("max_parallel", PARALLEL))
    redis_url = settings.AMOERP.get("REDIS_URL")
    if redis_url:
        return RedisLimiter(backend, redis_url, capacity, window, parallel)
    if connection.vendor == "postgresql":
        return DatabaseLimiter(backend, capacity, window, parallel)
    with _local_lock:
        limiter = _local.get(backend.pk)
        if limiter is None or (limiter.capacity, limiter.window) != (capacity, window):
            limiter = _local[backend.pk] = LocalLimiter(capacity, window, parallel)
        return limiter
