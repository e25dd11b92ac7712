"""Retention: `manage.py purge` (a real process, as operators and the nightly schedule run it) deletes what
is past its retention and keeps what is still needed — live outbox events, unhandled webhooks, deduplication
keys inside the window, the latest sync runs, each object's latest history — in bounded batches."""

import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from counterparties.models import Counterparty
from integration.models import InboxMessage, JournalEntry, OutboxAttempt, OutboxEvent, SyncRun
from integration.retention import purge
from tests.documents.factories import make_counterparty

from .conftest import child_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "hook-secret-retention"
RETENTION = {
    "AMOERP_OUTBOX_RETENTION_DAYS": "30",
    "AMOERP_INBOX_BODY_RETENTION_DAYS": "7",
    "AMOERP_INBOX_RETENTION_DAYS": "30",
    "AMOERP_WEBHOOK_DEDUP_HOURS": "72",
    "AMOERP_SYNCRUN_RETENTION_DAYS": "90",
    "AMOERP_HISTORY_RETENTION_DAYS": "365",
    "AMOERP_JOURNAL_RETENTION_DAYS": "30",
}


def ago(**delta):
    return timezone.now() - timedelta(**delta)


@pytest.fixture
def erp(backend):
    backend.settings = {"webhook_secret": SECRET}
    backend.save()
    return backend


def event(erp, key: str, status: str, age_days: float, attempts: int = 1) -> OutboxEvent:
    row = OutboxEvent.objects.create(backend=erp, topic="erp.order.upsert", aggregate_type="orders.order",
                                     aggregate_id=key, idempotency_key=key, status=status)
    for number in range(1, attempts + 1):
        OutboxAttempt.objects.create(event=row, number=number, started_at=ago(days=age_days),
                                     finished_at=ago(days=age_days), outcome="retry")
    OutboxEvent.objects.filter(pk=row.pk).update(updated_at=ago(days=age_days), created_at=ago(days=age_days))
    return row


def webhook(client, request_id: str, body: bytes = b'{"events": []}') -> bool:
    """POST a MoySklad webhook; True when it was stored as new (False: a duplicate)."""
    before = InboxMessage.objects.filter(dedup_key=f"id:{request_id}").values_list("duplicates", flat=True).first()
    response = client.post(f"/hooks/moysklad/{SECRET}/?requestId={request_id}", data=body,
                           content_type="application/json")
    assert response.status_code == 200
    after = InboxMessage.objects.get(dedup_key=f"id:{request_id}").duplicates
    return before is None and after == 0


def inbox_row(client, request_id: str, status: str, age: timedelta) -> InboxMessage:
    assert webhook(client, request_id, f'{{"events": [], "id": "{request_id}"}}'.encode())
    InboxMessage.objects.filter(dedup_key=f"id:{request_id}").update(status=status, received_at=timezone.now() - age)
    return InboxMessage.objects.get(dedup_key=f"id:{request_id}")


def run(erp, kind: str, status: str, age_days: float, dry_run: bool = False) -> SyncRun:
    finished = None if status == SyncRun.Status.RUNNING else ago(days=age_days)
    return SyncRun.objects.create(backend=erp, kind=kind, status=status, dry_run=dry_run,
                                  started_at=ago(days=age_days), finished_at=finished)


def purge_process(children, *args: str) -> str:
    proc = children.manage("purge", *args, env=child_env(**RETENTION))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def test_purge_deletes_what_is_past_retention_and_keeps_what_is_needed(erp, client, children):
    # Outbox: finished events go with their attempts; live and dead ones stay whatever their age.
    delivered_old = event(erp, "delivered-old", "delivered", 40, attempts=3)
    discarded_old = event(erp, "discarded-old", "discarded", 40)
    delivered_new = event(erp, "delivered-new", "delivered", 2)
    live = [event(erp, f"{status}-old", status, 400, attempts=2) for status in ("pending", "in_flight", "dead")]

    # Inbox: handled messages lose their body after 7 days and their row after 30; unhandled ones stay whole.
    processed_old = inbox_row(client, "processed-old", "processed", timedelta(days=40))
    rejected_old = inbox_row(client, "rejected-old", "rejected", timedelta(days=40))
    processed_week = inbox_row(client, "processed-week", "processed", timedelta(days=10))
    processed_new = inbox_row(client, "processed-new", "processed", timedelta(days=1))
    unhandled = [inbox_row(client, f"{status}-old", status, timedelta(days=100)) for status in ("received", "failed")]

    # Sync runs: old ones go, except the latest and the latest successful real run per backend and kind.
    first = run(erp, "catalog", "succeeded", 200)
    last_success = run(erp, "catalog", "succeeded", 150)
    dry = run(erp, "catalog", "succeeded", 140, dry_run=True)
    latest = run(erp, "catalog", "failed", 120)
    only_stock = run(erp, "stock", "failed", 300)
    running = run(erp, "prices", "running", 200)
    recent = run(erp, "prices", "succeeded", 1)

    # History: each object's latest row stays; older rows beyond a year go.
    edited = make_counterparty(name="ООО «Старое имя»")
    for name in ("ООО «Новое имя»", "ООО «Новейшее имя»"):
        edited.name = name
        edited.save()
    untouched = make_counterparty(inn="7736207543", kpp="773601001", name="ООО «Один раз»")
    Counterparty.history.update(history_date=ago(days=500))
    fresh = make_counterparty(inn="7702070139", kpp="770201001", name="ООО «Свежее»")
    fresh.name = "ООО «Свежее 2»"
    fresh.save()

    JournalEntry.objects.all().delete()
    old_entry = JournalEntry.objects.create(direction="out", method="GET", url="u", created_at=ago(days=40))
    new_entry = JournalEntry.objects.create(direction="out", method="GET", url="u")

    out = purge_process(children)
    assert "outbox events: 2" in out and "sync runs: 2" in out, out

    outbox = set(OutboxEvent.objects.values_list("pk", flat=True))
    assert outbox == {delivered_new.pk, *(e.pk for e in live)}
    assert not OutboxAttempt.objects.filter(event_id__in=[delivered_old.pk, discarded_old.pk]).exists()
    assert OutboxAttempt.objects.filter(event__status="dead").count() == 2  # the evidence of a dead letter

    kept = {m.dedup_key: m for m in InboxMessage.objects.all()}
    assert set(kept) == {f"id:{m.message_id}" for m in (processed_week, processed_new, *unhandled)}
    assert processed_old.dedup_key not in kept and rejected_old.dedup_key not in kept
    assert bytes(kept[processed_week.dedup_key].body) == b""
    assert kept[processed_week.dedup_key].status == "processed"  # the row (and its dedup key) stays
    assert bytes(kept[processed_new.dedup_key].body) != b""
    assert all(bytes(kept[m.dedup_key].body) != b"" for m in unhandled)

    runs = set(SyncRun.objects.values_list("pk", flat=True))
    assert runs == {last_success.pk, latest.pk, only_stock.pk, running.pk, recent.pk}
    assert first.pk not in runs and dry.pk not in runs

    assert edited.history.count() == 1 and edited.history.get().name == "ООО «Новейшее имя»"
    assert untouched.history.count() == 1
    assert fresh.history.count() == 2  # recent history is kept whole

    assert list(JournalEntry.objects.filter(pk__in=[old_entry.pk, new_entry.pk]).values_list("pk", flat=True)) == [
        new_entry.pk]

    # A second run finds nothing more to do.
    again = purge_process(children)
    assert all(line.endswith(": 0") for line in again.strip().splitlines()), again


def test_a_redelivery_inside_the_dedup_window_is_still_a_duplicate(erp, client, settings):
    settings.AMOERP = {**settings.AMOERP, "INBOX_RETENTION_DAYS": 0, "INBOX_BODY_RETENTION_DAYS": 0,
                       "WEBHOOK_DEDUP_HOURS": 72}
    inbox_row(client, "inside-window", "processed", timedelta(hours=70))
    inbox_row(client, "outside-window", "processed", timedelta(hours=80))
    report = purge()
    assert report.complete and report.deleted["inbox messages"] == 1
    assert webhook(client, "inside-window") is False  # MoySklad retried: counted, not processed twice
    assert InboxMessage.objects.get(dedup_key="id:inside-window").duplicates == 1
    assert webhook(client, "outside-window") is True  # past the window its key is forgotten


def test_deletes_go_in_bounded_batches(erp, settings):
    settings.AMOERP = {**settings.AMOERP, "PURGE_BATCH": 4}
    for n in range(10):
        event(erp, f"old-{n}", "delivered", 60, attempts=2)
    deletes: list[str] = []

    def record(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("DELETE") and "integration_outbox" in sql:
            deletes.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        report = purge()
    assert report.deleted["outbox events"] == 10
    event_deletes = [p for sql, p in deletes if 'DELETE FROM "integration_outboxevent"' in sql]
    assert len(event_deletes) == 3 and max(len(p) for p in event_deletes) <= 4  # 4 + 4 + 2 rows
    assert not OutboxEvent.objects.exists() and not OutboxAttempt.objects.exists()


def test_a_time_budget_stops_early_and_the_next_run_continues(erp, settings):
    settings.AMOERP = {**settings.AMOERP, "PURGE_BATCH": 1}
    for n in range(3):
        event(erp, f"old-{n}", "delivered", 60)
    report = purge(max_seconds=0)
    assert not report.complete and OutboxEvent.objects.count() == 3
    assert purge().complete and not OutboxEvent.objects.exists()


def test_the_nightly_schedule_runs_the_purge_in_a_qcluster_worker(erp, children):
    from integration.schedules import specs

    call_command("setup_schedules", stdout=io.StringIO())
    assert Schedule.objects.get(name="amoerp: nightly purge").cron == "30 3 * * *"
    # Only the purge, due now (the others would reach out to the test backend's fake URL).
    [spec] = [s for s in specs() if s.func == "integration.tasks.purge"]
    Schedule.objects.exclude(name=spec.name).delete()
    Schedule.objects.filter(name=spec.name).update(next_run=ago(minutes=1))
    old, kept = event(erp, "old", "delivered", 40), event(erp, "dead", "dead", 40)

    cluster = children.manage("qcluster", env=child_env(**RETENTION))
    deadline = time.monotonic() + 90  # the cluster looks at its schedules about every 30 s
    while OutboxEvent.objects.filter(pk=old.pk).exists() and time.monotonic() < deadline:
        assert cluster.poll() is None, cluster.stderr.read()
        time.sleep(0.5)
    assert not OutboxEvent.objects.filter(pk=old.pk).exists() and OutboxEvent.objects.filter(pk=kept.pk).exists()
