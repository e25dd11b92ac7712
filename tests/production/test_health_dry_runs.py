"""A staff dry run succeeds without writing anything: it must not make a stale real sync look fresh to the
operator's monitoring (/health/ and /metrics read the real runs only, as the dashboard does)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.models import Backend, SyncRun

pytestmark = pytest.mark.django_db


def test_a_recent_dry_run_does_not_hide_a_stale_real_sync(client, settings):
    settings.AMOERP_METRICS = {**settings.AMOERP_METRICS, "ALLOW": ["127.0.0.1/32"]}
    backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, active=True)
    long_ago = timezone.now() - timedelta(days=3)
    SyncRun.objects.create(backend=backend, kind="stock", status=SyncRun.Status.SUCCEEDED, finished_at=long_ago)
    SyncRun.objects.create(backend=backend, kind="stock", status=SyncRun.Status.SUCCEEDED, dry_run=True,
                           finished_at=timezone.now())

    health = client.get("/health/")
    assert health.status_code == 503
    assert "backend:ms" in health.json()["failing"]

    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    line = next(x for x in metrics.splitlines()
                if x.startswith('amoerp_sync_last_success_timestamp_seconds{backend="ms",kind="stock"}'))
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(long_ago.timestamp(), abs=1)
