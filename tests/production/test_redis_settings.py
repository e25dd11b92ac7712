"""With REDIS_URL the cache (and so django-q2's cluster stats) lives in Redis; the broker stays the ORM."""

import os
import subprocess
import sys
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import django
django.setup()
from django.conf import settings
from django.core.cache import cache
cache.set("probe", "written by another process", 60)
print(settings.Q_CLUSTER.get("orm"), "redis" in settings.Q_CLUSTER)
"""


def test_redis_url_moves_the_cache_not_the_broker(redis_url):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "REDIS_URL": redis_url}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["default", "False"]  # the ORM broker, on the default database
    client = redis.Redis.from_url(redis_url)
    assert any(b"probe" in key for key in client.keys("amoerp:*"))
