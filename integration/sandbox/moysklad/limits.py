"""MoySklad's request limits: a weighted token bucket (45 units / 3 s) and at most 5 parallel requests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    window_ms: int
    reset_ms: int
    retry_after_ms: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-Lognex-Retry-TimeInterval": str(self.window_ms),
        }
        if not self.allowed:
            headers["X-Lognex-Reset"] = str(self.reset_ms)
            headers["X-Lognex-Retry-After"] = str(self.retry_after_ms)
        return headers


class TokenBucket:
    """`capacity` units refilled evenly over `window` seconds; a request takes its weight or is refused."""

    def __init__(self, capacity: int = 45, window: float = 3.0):
        self.capacity = capacity
        self.window = window
        self.rate = capacity / window
        self.tokens = float(capacity)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self, weight: int = 1) -> Verdict:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            allowed = self.tokens >= weight
            if allowed:
                self.tokens -= weight
            missing = max(0.0, weight - self.tokens)
            return Verdict(
                allowed=allowed,
                limit=self.capacity,
                remaining=int(self.tokens),
                window_ms=int(self.window * 1000),
                reset_ms=int((self.capacity - self.tokens) / self.rate * 1000),
                retry_after_ms=int(missing / self.rate * 1000) + 1,
            )


class ParallelLimit:
    """At most `limit` requests in flight; `enter` answers False when one more would exceed it."""

    def __init__(self, limit: int = 5):
        self.limit = limit
        self.inflight = 0
        self.lock = threading.Lock()

    def enter(self) -> bool:
        with self.lock:
            if self.inflight >= self.limit:
                return False
            self.inflight += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.inflight -= 1
