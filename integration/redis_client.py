"""One Redis connection pool per URL and process (REDIS_URL: the shared rate limiters, the cache, django-q2's stats)."""

from __future__ import annotations

import functools

import redis


@functools.cache
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)
