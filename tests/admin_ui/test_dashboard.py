"""The dashboard's figures and alerts, computed from real rows with a bounded number of queries."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.amocrm.models import Alert as ConnectorAlert
from integration.models import (
    Backend,
    Conflict,
    InboxMessage,
    JournalEntry,
    OutboxAttempt,
    OutboxEvent,
    SyncRun,
)
from integration.staff.dashboard import build_dashboard, parse_expiry

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def backend(name, kind=Backend.Kind.MOYSKLAD, **extra):
    return Backend.objects.create(name=name, kind=kind, base_url=f"http://{name}.invalid/", **extra)


def run(b, kind, status, finished_ago, dry_run=False):
    return SyncRun.objects.create(
        backend=b, kind=kind, status=status, dry_run=dry_run,
        started_at=NOW - finished_ago - timedelta(seconds=30), finished_at=NOW - finished_ago,
    )


def event(b, status, key, ago=timedelta(minutes=5)):
    return OutboxEvent.objects.create(
        backend=b, topic="erp.order.upsert", aggregate_type="orders.order", aggregate_id=key, payload={},
        idempotency_key=key, status=status, created_at=NOW - ago,
    )


def attempt(ev, outcome, ago):
    return OutboxAttempt.objects.create(
        event=ev, number=ev.attempt_log.count() + 1, started_at=NOW - ago, finished_at=NOW - ago, outcome=outcome
    )


def journal(b, status_code, ago, error=""):
    return JournalEntry.objects.create(
        backend=b, direction="out", method="GET", url="http://x/", status_code=status_code, error=error,
        created_at=NOW - ago,
    )


@pytest.fixture
def company():
    crm = backend(
        "crm", Backend.Kind.AMOCRM,
        credentials={"access_token": "t", "long_lived": True, "expires_at": int((NOW - timedelta(minutes=3)).timestamp())},
        settings={"webhooks": [{"destination": "https://x/hook/abc", "disabled": True},
                               {"destination": "https://x/hook/ok", "disabled": False}]},
    )
    erp = backend("erp", paused=True, paused_reason="1C update")
    backend("old", active=False)
    run(erp, "stock", SyncRun.Status.SUCCEEDED, timedelta(minutes=40))
    run(erp, "stock", SyncRun.Status.SUCCEEDED, timedelta(hours=3))
    run(erp, "stock", SyncRun.Status.FAILED, timedelta(minutes=10))
    run(erp, "stock", SyncRun.Status.SUCCEEDED, timedelta(minutes=1), dry_run=True)
    run(erp, "catalog", SyncRun.Status.SUCCEEDED, timedelta(hours=2))
    run(crm, "stock", SyncRun.Status.SUCCEEDED, timedelta(minutes=2))
    pending = [event(erp, OutboxEvent.Status.PENDING, f"p{i}") for i in range(3)]
    dead = event(erp, OutboxEvent.Status.DEAD, "d1")
    event(erp, OutboxEvent.Status.DELIVERED, "ok1")
    attempt(dead, OutboxAttempt.Outcome.RETRY, timedelta(minutes=20))
    attempt(dead, OutboxAttempt.Outcome.DEAD, timedelta(minutes=10))
    attempt(pending[0], OutboxAttempt.Outcome.DELIVERED, timedelta(minutes=30))
    attempt(pending[1], OutboxAttempt.Outcome.RETRY, timedelta(hours=5))
    attempt(pending[2], OutboxAttempt.Outcome.PAUSED, timedelta(minutes=1))
    for minutes in range(6):
        journal(crm, 200 if minutes < 2 else 503, timedelta(minutes=minutes))
    journal(crm, None, timedelta(hours=3), error="timeout")
    journal(crm, 200, timedelta(days=2))
    InboxMessage.objects.create(source="amocrm", backend=crm, dedup_key="a", body=b"{}", status="failed")
    InboxMessage.objects.create(source="amocrm", backend=crm, dedup_key="b", body=b"{}", status="received")
    InboxMessage.objects.create(source="amocrm", backend=crm, dedup_key="c", body=b"{}", status="processed")
    Conflict.objects.create(content_type=ContentType.objects.get_for_model(Backend), object_id=erp.pk, field="name",
                            erp_value="a", crm_value="b")
    ConnectorAlert.objects.create(backend=crm, code="payment-required", message="amoCRM subscription unpaid")
    ConnectorAlert.objects.create(backend=crm, code="blocked", message="old news", resolved_at=NOW)
    return crm, erp


def test_figures_per_backend(company):
    crm, erp = company
    dash = build_dashboard(now=NOW)
    assert [s.backend.name for s in dash.backends] == ["crm", "erp"]
    crm_s, erp_s = dash.backends

    stock = next(s for s in erp_s.syncs if s.kind == "stock")
    assert stock.last_success_at == NOW - timedelta(minutes=40)  # the dry run doesn't count
    assert stock.lag == timedelta(minutes=40) and stock.stale
    assert stock.last_failure_at == NOW - timedelta(minutes=10)
    catalog = next(s for s in erp_s.syncs if s.kind == "catalog")
    assert not catalog.stale

    assert (erp_s.outbox_pending, erp_s.outbox_dead) == (3, 1)
    assert (erp_s.deliveries_hour.total, erp_s.deliveries_hour.failed) == (3, 2)
    assert (erp_s.deliveries_day.total, erp_s.deliveries_day.failed) == (4, 3)
    assert (crm_s.exchanges_hour.total, crm_s.exchanges_hour.failed) == (6, 4)
    assert (crm_s.exchanges_day.total, crm_s.exchanges_day.failed) == (7, 5)
    assert crm_s.exchanges_hour.percent == 66.7
    assert (crm_s.inbox_pending, crm_s.inbox_failed) == (2, 1)
    assert crm_s.token_expired and crm_s.token_expires_at == parse_expiry(crm.credentials["expires_at"])
    assert crm_s.disabled_webhooks == ["https://x/hook/abc"]
    assert dash.open_conflicts == 1


def test_alerts_errors_first(company):
    messages = [(a.level, a.message) for a in build_dashboard(now=NOW).alerts]
    levels = [level for level, _ in messages]
    assert levels == sorted(levels, key=lambda level: level != "error")
    text = "\n".join(message for _, message in messages)
    assert "Backend erp is paused: 1C update" in text
    assert "1 dead letter in the outbox of erp" in text
    assert "The amoCRM token of crm has expired: connect the account again" in text
    assert "disabled the webhook https://x/hook/abc of crm" in text
    assert "66.7% of the exchanges with crm failed" in text
    assert "1 open conflict waits" in text
    assert "amoCRM subscription unpaid" in text and "old news" not in text
    assert "Sync stock of erp is behind" not in text  # paused backends are expected to lag


def test_query_count_does_not_grow_with_backends(company):
    with CaptureQueriesContext(connection) as few:
        build_dashboard(now=NOW)
    for i in range(5):
        b = backend(f"more{i}")
        run(b, "stock", SyncRun.Status.SUCCEEDED, timedelta(minutes=1))
        event(b, OutboxEvent.Status.DEAD, f"x{i}")
    with CaptureQueriesContext(connection) as many:
        dash = build_dashboard(now=NOW)
    assert len(dash.backends) == 7
    assert len(many.captured_queries) == len(few.captured_queries) <= 8


def test_parse_expiry_accepts_epoch_and_iso():
    assert parse_expiry(1) == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert parse_expiry(0) is None  # the connector's "unknown"
    assert parse_expiry("1767225600") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("2026-01-01T03:00:00+03:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("") is None and parse_expiry("soon") is None


def test_kpi_panel_reflects_the_data_and_charts_it():
    from decimal import Decimal

    from integration.staff.dashboard import build_kpi_panel
    from orders.models import Approval, Reservation

    from .data import backends, order_with_everything

    order = order_with_everything(*backends())
    line = order.lines.get()
    for automatic in (True, True, False):
        Reservation.objects.create(order=order, line=line, product=line.product, warehouse=line.warehouse,
                                   quantity=Decimal("1"), automatic=automatic)
    Approval.objects.create(order=order, status=Approval.Status.APPROVED, decided_at=timezone.now())

    panel = build_kpi_panel()
    cards = {card.key: card for card in panel.cards}
    assert list(cards) == ["errors", "automatic_reserves", "quote_to_invoice", "sales_in_minus", "duplicates"]
    assert cards["automatic_reserves"].value == "75 %"  # 3 automatic of 4
    assert cards["sales_in_minus"].value == "1"
    assert cards["errors"].value == "2"  # the invoice's totals mismatch + the order's dead letter
    assert cards["quote_to_invoice"].value == "3.5 h"
    for key in ("errors", "automatic_reserves", "quote_to_invoice", "sales_in_minus"):
        svg = str(cards[key].chart)
        assert svg.startswith("<svg") and svg.count("<circle") >= 1
    assert "<polyline" in str(cards["sales_in_minus"].chart)  # 12 weekly points, zeros included


def test_line_chart_leaves_gaps_for_missing_values():
    from integration.staff.charts import line_chart

    svg = str(line_chart([1, 2, None, 4, 5], list("abcde"), title="t<"))
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 4
    assert 'aria-label="t&lt;"' in svg and "<title>d: 4</title>" in svg


def test_oauth_token_deadline_is_the_refresh_token_lifetime():
    """An OAuth access token that lapsed overnight is refreshed on use; the refresh token's 3 months count."""
    idle = backend("idle", Backend.Kind.AMOCRM,
                   credentials={"expires_at": int((NOW - timedelta(hours=10)).timestamp())})
    backend("stale", Backend.Kind.AMOCRM,
                    credentials={"expires_at": int((NOW - timedelta(days=85)).timestamp())})
    backend("unknown", Backend.Kind.AMOCRM, credentials={"long_lived": True, "expires_at": 0})
    dash = build_dashboard(now=NOW)
    by_name = {s.backend.name: s for s in dash.backends}
    assert not by_name["idle"].token_expired
    assert by_name["idle"].reauthorize_by == parse_expiry(idle.credentials["expires_at"]) + timedelta(days=89)
    assert by_name["unknown"].reauthorize_by is None
    texts = [a.message for a in dash.alerts if a.backend in ("idle", "stale", "unknown")]
    assert texts == [f"The amoCRM token of stale expires on {by_name['stale'].reauthorize_by.astimezone(timezone.get_current_timezone()):%d.%m.%Y %H:%M}."]
