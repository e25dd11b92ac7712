"""Charts over time: the numbers behind them from the journal, the syncs, the outbox, the inbox and the
reserves, computed with a fixed number of aggregate queries, and rendered with a table for screen readers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.models import Backend, InboxMessage, JournalEntry, OutboxEvent, SyncRun
from integration.staff.trends import build_trends

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def erp(db):
    return Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")


def _journal(backend, at, status, error=""):
    return JournalEntry(backend=backend, direction="out", method="GET", url="/x", status_code=status, error=error,
                        created_at=at)


def _chart(trends, key):
    return {line.css or line.name: line.values for line in next(c for c in trends.charts if c.key == key).lines}


def test_exchanges_429s_errors_and_webhooks_per_hour(erp):
    now = timezone.now().replace(minute=30)
    two_hours_ago = now - timedelta(hours=2)
    JournalEntry.objects.bulk_create(
        [_journal(erp, now, 200) for _ in range(5)] + [_journal(erp, now, 429) for _ in range(2)]
        + [_journal(erp, two_hours_ago, 500), _journal(erp, two_hours_ago, None, "timeout"),
           _journal(erp, now - timedelta(days=3), 200)]
    )
    InboxMessage.objects.create(source="moysklad", backend=erp, dedup_key="a", body=b"{}", received_at=now,
                                duplicates=3)
    trends = build_trends("24h", backend=erp, now=now)
    assert len(trends.starts) == 24
    exchanges = _chart(trends, "exchanges")
    assert exchanges["ok"][-1] == 5 and exchanges["limited"][-1] == 2 and exchanges["error"][-3] == 2
    assert sum(exchanges["ok"]) == 5, "the entry of 3 days ago is outside 24 hours"
    errors = _chart(trends, "errors")
    assert errors["error"][-3] == 1 and errors["network"][-3] == 1
    hooks = _chart(trends, "webhooks")
    assert hooks["ok"][-1] == 1 and hooks["limited"][-1] == 3

    week = build_trends("7d", backend=erp, now=now)
    assert len(week.starts) == 28 and sum(_chart(week, "exchanges")["ok"]) == 6


def test_outbox_depth_and_oldest_age_follow_the_events_lifetimes(erp):
    now = timezone.now().replace(minute=30)
    def event(n, created, delivered=None):
        status = OutboxEvent.Status.DELIVERED if delivered else OutboxEvent.Status.PENDING
        return OutboxEvent.objects.create(backend=erp, topic="t", aggregate_type="a", aggregate_id=str(n),
                                          idempotency_key=f"k{n}", created_at=created, delivered_at=delivered,
                                          status=status)
    event(1, now - timedelta(hours=5), delivered=now - timedelta(hours=3, minutes=10))
    event(2, now - timedelta(hours=4, minutes=20))  # still waiting
    trends = build_trends("24h", backend=erp, now=now)
    depth = _chart(trends, "outbox_depth")["queue"]
    age = _chart(trends, "outbox_age")["lag"]
    # Buckets end at the hours; the last one (the current hour) ends now.
    assert depth[-6] == 1 and depth[-5] == 2 and depth[-4] == 1 and depth[-1] == 1
    assert age[-1] == pytest.approx(260, abs=1)


def test_sync_lag_is_the_time_since_the_last_success(erp):
    now = timezone.now().replace(minute=30)
    at = now - timedelta(hours=3, minutes=30)
    SyncRun.objects.create(backend=erp, kind="stock", status="succeeded", started_at=at, finished_at=at)
    lag = _chart(build_trends("24h", backend=erp, now=now), "sync_lag")["lag"]
    assert lag[-1] == pytest.approx(210, abs=1)
    assert lag[0] is None, "no success known yet at the period's start"


def test_a_fixed_number_of_queries_whatever_the_data(erp, django_assert_max_num_queries):
    now = timezone.now()
    JournalEntry.objects.bulk_create([_journal(erp, now - timedelta(hours=h), 200) for h in range(0, 700, 3)])
    with django_assert_max_num_queries(7):
        build_trends("30d", now=now)


def test_the_dashboard_and_the_backend_page_show_charts_with_tables(admin_client, erp):
    JournalEntry.objects.create(backend=erp, direction="out", method="GET", url="/x", status_code=200)
    page = admin_client.get("/admin/?period=7d").content.decode()
    assert 'id="trends" data-period="7d"' in page and 'id="trend-exchanges"' in page
    assert page.count('class="staff-trend-table"') == 7 and "<svg" in page
    page = admin_client.get(f"/admin/staff/backends/{erp.pk}/charts/?period=30d").content.decode()
    assert 'data-period="30d"' in page and 'id="trend-outbox_depth"' in page
    assert page.count("<tr>") >= 30
