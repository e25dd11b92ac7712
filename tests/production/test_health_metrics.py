"""/health/ and /metrics as an operator's monitoring sees them: gunicorn with 2 workers and a real qcluster on
PostgreSQL + Redis, metrics summed over every process through prometheus_client's multiprocess directory."""

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from integration.models import Backend, OutboxEvent
from tests.production.conftest import child_env

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-the-test"  # noqa: S105
pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def platform(redis_url, tmp_path):
    """gunicorn (2 workers) and qcluster sharing Redis and one metrics directory; yields (url, env, qcluster)."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = child_env(REDIS_URL=redis_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), AMOERP_METRICS_TOKEN=TOKEN,
                    AMOERP_METRICS_ALLOW="10.255.255.0/24", PYTHONUNBUFFERED="1")
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    qcluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(url + "/health/", timeout=5).status_code == 200, 90)
        yield url, env, qcluster
    finally:
        for process in (web, qcluster):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (web, qcluster):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # qcluster waits for its workers' current tasks
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_for(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def scrape(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _space, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_health_and_metrics(platform, ms_sandbox_module, tmp_path):
    """One platform for both (it takes a while to start): the metrics first, then /health/ broken part by part."""
    check_metrics_add_up_every_process(platform, ms_sandbox_module, tmp_path)
    check_health_names_the_failing_parts_and_no_secrets(platform, ms_sandbox_module)


def check_health_names_the_failing_parts_and_no_secrets(platform, ms_sandbox_module):
    url, _env, qcluster = platform
    body = requests.get(url + "/health/", timeout=10).json()
    assert body["status"] == "ok" and body["checks"]["queue"]["detail"]["clusters"] >= 1
    assert body["checks"]["cache"]["detail"] == {"backend": "RedisCache", "shared": True}

    backend = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD,
                                     base_url=ms_sandbox_module.url + "/api/remap/1.2",
                                     credentials={"token": "very-secret-token", "webhook_secret": "hook-secret"},
                                     paused=True)
    stale = timezone.now() - timedelta(hours=1)
    OutboxEvent.objects.create(backend=backend, topic="test.stale", aggregate_type="order", aggregate_id="1",
                               idempotency_key="stale-1", created_at=stale, next_attempt_at=stale)
    answer = requests.get(url + "/health/", timeout=10)
    assert answer.status_code == 503
    body = answer.json()
    assert body["failing"] == ["queue", "backend:moysklad"]
    assert body["checks"]["backend:moysklad"]["problems"] == ["paused"]
    assert "outbox" in body["checks"]["queue"]["problems"][0]
    assert "very-secret-token" not in answer.text and "hook-secret" not in answer.text

    os.killpg(qcluster.pid, signal.SIGKILL)
    qcluster.wait(timeout=10)
    wait_for(lambda: "no django-q2 cluster is running" in requests.get(url + "/health/", timeout=10).text, 30)


def check_metrics_add_up_every_process(platform, ms_sandbox_module, tmp_path):
    url, env, _qcluster = platform
    assert requests.get(url + "/metrics", timeout=10).status_code == 403  # neither the token nor an allowed address
    before = scrape(url)
    for _ in range(30):  # spread over both gunicorn workers
        assert requests.get(url + "/health/", timeout=10).status_code == 200
    # a queue worker's process on the same host: 12 MoySklad requests
    ms_sandbox_module.reset()
    backend = Backend.objects.create(name="moysklad-metrics", kind=Backend.Kind.MOYSKLAD,
                                     base_url=ms_sandbox_module.url + "/api/remap/1.2",
                                     credentials={"token": "sandbox-token"})
    go = tmp_path / "go"
    go.touch()
    subprocess.run([sys.executable, "-m", "tests.production.push_requests", "moysklad", str(backend.pk), "12",
                    str(go), str(tmp_path / "push.jsonl")], cwd=ROOT, env=env, check=True, timeout=120)
    OutboxEvent.objects.create(backend=backend, topic="test.pending", aggregate_type="order", aggregate_id="2",
                               idempotency_key="pending-2")
    after = scrape(url)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    health = [name for name in after if name.startswith("django_http_responses_total_by_status_view_method")
              and 'view="health"' in name and 'status="200"' in name]
    assert health and delta(health[0]) == 30
    assert after['amoerp_external_requests_total{backend="moysklad-metrics",status="200"}'] == 12
    assert after['amoerp_external_request_seconds_count{backend="moysklad-metrics"}'] == 12
    assert after["amoerp_outbox_pending"] == OutboxEvent.objects.filter(status="pending").count() == 1
    assert after["amoerp_inbox_pending"] == 0
    assert 'amoerp_reservations_total{mode="automatic"}' in after
    assert any(re.match(r"django_db_execute_total", name) for name in after)
