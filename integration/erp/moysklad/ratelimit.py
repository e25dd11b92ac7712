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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from integration.amocrm.models import RateWindow
from integration.amocrm.sidetx import independent_atomic
from integration.models import Backend
from integration.ratelimit import next_grant

T = TypeVar("T")
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
            self.grants = blocked_window(self.grants, time.time(), seconds, self.capacity, self.window)


def blocked_window(grants: list[float], now: float, seconds: float, capacity: int, window: float) -> list[float]:
    """A full window whose first unit frees at now + seconds, then one every window / capacity (a steady pace
    after the wait, not a burst that meets the next 429); grants already handed out for later are kept."""
    first = now + seconds - window
    ramp = [first + i * window / capacity for i in range(capacity)]
    return sorted(ramp + [float(g) for g in grants if float(g) > first])[-capacity:]


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

    def _update(self, change: Callable[[dict, float], T]) -> T:
        """Run `change(state, now)` on the locked window and save it, committed at once (a second connection
        when the caller is inside a transaction). A backend the caller created and has not committed is not
        visible there: then the caller's own transaction it is."""
        try:
            return self._update_on(change, independent=True)
        except _BackendNotCommitted:
            return self._update_on(change, independent=False)

    def _update_on(self, change: Callable[[dict, float], T], *, independent: bool) -> T:
        with independent_atomic() if independent else _caller_atomic() as using:
            if using != DEFAULT_DB_ALIAS and not Backend.objects.using(using).filter(pk=self.backend_id).exists():
                raise _BackendNotCommitted  # its window row would wait for the caller's commit: a deadlock
            # the row is created on the connection that commits it: one made inside a rolled-back transaction
            # (a dry run) would be gone for the next call
            row = RateWindow.objects.using(using).select_for_update().get_or_create(backend_id=self.backend_id)[0]
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT extract(epoch from clock_timestamp())")
                now = float(cursor.fetchone()[0])
            state = row.grants if isinstance(row.grants, dict) else {}
            state.setdefault("grants", [])
            state.setdefault("inflight", {})
            result = change(state, now)
            row.grants = state
            row.save(using=using, update_fields=["grants"])
        return result

    def acquire(self, weight: int) -> float:
        def grant(state: dict, now: float) -> float:
            start, state["grants"] = next_grant([float(g) for g in state["grants"]], now, self.capacity,
                                                self.window, weight, self.spacing)
            return start - now

        wait = self._update(grant)
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)

    @contextmanager
    def slot(self) -> Iterator[None]:
        token = secrets.token_hex(8)

        def take(state: dict, now: float) -> bool:
            state["inflight"] = {k: v for k, v in state["inflight"].items() if v > now}
            if len(state["inflight"]) >= self.parallel:
                return False
            state["inflight"][token] = now + SLOT_TTL
            return True

        while not self._update(take):
            time.sleep(SLOT_POLL)
        try:
            yield
        finally:
            self._update(lambda state, _now: state["inflight"].pop(token, None))

    def penalise(self, seconds: float) -> None:
        def block(state: dict, now: float) -> None:
            state["grants"] = blocked_window(state["grants"], now, seconds, self.capacity, self.window)

        self._update(block)


class _BackendNotCommitted(Exception):
    """The backend exists only in the caller's open transaction."""


@contextmanager
def _caller_atomic() -> Iterator[str]:
    with transaction.atomic():
        yield DEFAULT_DB_ALIAS


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
local all = {}
for _, g in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if tonumber(g) > first then table.insert(all, tonumber(g)) end
end
for i = 0, capacity - 1 do table.insert(all, first + i * tonumber(ARGV[2]) / capacity) end
table.sort(all)
redis.call('DEL', KEYS[1])
for i = math.max(1, #all - capacity + 1), #all do redis.call('RPUSH', KEYS[1], tostring(all[i])) end
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
