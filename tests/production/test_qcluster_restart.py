"""A qcluster killed with SIGKILL (the OOM killer) and started again: the first /health/ after the killed cluster's
stats expired sees the new cluster. (django-q2's Stat.get_all() drops an expired key from the list it is iterating
and so skips the key after it: when the new cluster registered before the killed one's stats expired — a restart
within 3 s — the first look found no cluster and answered 503.)"""

import os
import signal
import subprocess
import sys

import pytest
import redis
import requests
from django.core.cache.backends.redis import RedisCache

from tests.production.test_health_metrics import ROOT, platform, wait_for  # noqa: F401 - the fixture

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_health_sees_a_restarted_qcluster_at_the_first_look(platform, redis_url):  # noqa: F811
    url, env, qcluster = platform
    client = redis.Redis.from_url(redis_url)

    def cluster_stats() -> set[bytes]:  # read without touching django-q2's key list
        return set(client.keys("*django_q:amoerp:cluster:*"))

    wait_for(lambda: len(cluster_stats()) == 1, 30)
    killed = cluster_stats()
    os.killpg(qcluster.pid, signal.SIGKILL)
    qcluster.wait(timeout=10)
    restarted = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: cluster_stats() - killed, 60)
        # As after a restart within 3 s: the killed cluster is still listed before the new one (the key list is
        # django-q2's, in the shared cache; its entries are pruned only when a cluster registers).
        cache = RedisCache(redis_url, {"KEY_PREFIX": "amoerp"})
        listed = cache.get("django_q:amoerp:cluster")
        stale = "django_q:amoerp:cluster:" + next(iter(killed)).decode().rsplit(":", 1)[-1]
        cache.set("django_q:amoerp:cluster", [stale, *[key for key in listed if key != stale]], None)
        wait_for(lambda: not cluster_stats() & killed, 30)  # its stats expired
        answer = requests.get(url + "/health/", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["checks"]["queue"]["detail"]["clusters"] == 1
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        try:
            restarted.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(restarted.pid, signal.SIGKILL)
            restarted.wait(timeout=10)
