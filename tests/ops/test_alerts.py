"""Alert rules: each fires once per incident (one e-mail, one Telegram message), reminds while it lasts and
says when it is resolved; e-mail through Django's locmem backend, Telegram to a local fake Bot API server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from integration.alerts.incidents import evaluate
from integration.alerts.models import AlertSettings, Incident, Notification, Rule
from integration.alerts.rules import RULES
from integration.amocrm.alerts import suspend_backend
from integration.backends import resume_backend
from integration.models import Backend, InboxMessage, OutboxEvent, SyncRun
from integration.staff.models import ReconcileRun

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
BOT_TOKEN = "123456:SECRET-bot-token-abcdef"


@pytest.fixture
def channels(telegram):
    config = AlertSettings.load()
    config.email_enabled, config.email_recipients = True, "ops@example.com, boss@example.com"
    config.telegram_enabled, config.telegram_chat_id = True, "-100777"
    config.secrets = {"telegram_token": BOT_TOKEN}
    config.save()
    return config


@pytest.fixture
def erp(db):
    return Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")


@pytest.fixture
def crm(db):
    return Backend.objects.create(name="amocrm", kind=Backend.Kind.AMOCRM, base_url="http://127.0.0.1:9",
                                  credentials={"access_token": "tok", "long_lived": True,
                                               "expires_at": int((timezone.now() + timedelta(days=60)).timestamp())})


def _event(backend, **fields):
    n = OutboxEvent.objects.count()
    return OutboxEvent.objects.create(backend=backend, topic="order.push", aggregate_type="order", aggregate_id=str(n),
                                      idempotency_key=f"k{n}", **fields)


def _run(backend, status, *, ago=timedelta(0), **counts):
    at = timezone.now() - ago
    return SyncRun.objects.create(backend=backend, kind="orders", status=status, started_at=at, finished_at=at,
                                  heartbeat_at=at, **counts)


# rule key -> (make the condition, clear it)
SCENARIOS = {
    "sync_failing": (
        lambda erp, crm: [_run(erp, "failed", error="HTTP 500") for _ in range(2)],
        lambda erp, crm: _run(erp, "succeeded"),
    ),
    "sync_stale": (
        lambda erp, crm: _run(erp, "succeeded", ago=timedelta(hours=30)),
        lambda erp, crm: _run(erp, "succeeded"),
    ),
    "outbox_age": (
        lambda erp, crm: _event(erp, created_at=timezone.now() - timedelta(minutes=45)),
        lambda erp, crm: OutboxEvent.objects.update(status=OutboxEvent.Status.DELIVERED),
    ),
    "dead_letters": (
        lambda erp, crm: _event(erp, status=OutboxEvent.Status.DEAD),
        lambda erp, crm: OutboxEvent.objects.update(status=OutboxEvent.Status.DISCARDED),
    ),
    "backend_suspended": (
        lambda erp, crm: suspend_backend(crm, "blocked", "amoCRM answers 403 Forbidden to amocrm: blocked."),
        lambda erp, crm: resume_backend(crm, user=None),
    ),
    "token_expiry": (
        lambda erp, crm: Backend.objects.filter(pk=crm.pk).update(credentials={
            **crm.credentials, "expires_at": int((timezone.now() + timedelta(days=2)).timestamp())}),
        lambda erp, crm: Backend.objects.filter(pk=crm.pk).update(credentials=crm.credentials),
    ),
    "webhooks_silent": (
        lambda erp, crm: _run(erp, "succeeded", ago=timedelta(minutes=5), created=2, updated=1),
        lambda erp, crm: InboxMessage.objects.create(source="moysklad", backend=erp, dedup_key="d1", body=b"{}"),
    ),
    "reconciliation_drift": (
        lambda erp, crm: ReconcileRun.objects.create(status="succeeded", drift_count=3, repaired=1),
        lambda erp, crm: ReconcileRun.objects.create(status="succeeded", drift_count=0),
    ),
    "health": (  # /health/'s queue part: a schedule far behind (is qcluster running?)
        lambda erp, crm: _late_schedule(),
        lambda erp, crm: _late_schedule().delete(),
    ),
}


def _late_schedule():
    from django_q.models import Schedule

    schedule, _ = Schedule.objects.get_or_create(
        name="late", defaults={"func": "integration.tasks.drain_queue", "schedule_type": Schedule.MINUTES, "minutes": 1,
                               "next_run": timezone.now() - timedelta(hours=1)})
    return schedule


def test_every_rule_has_a_scenario_and_a_default_row(db):
    evaluate()
    assert set(SCENARIOS) == {spec.key for spec in RULES}
    assert dict(Rule.objects.values_list("key", "threshold")) == {spec.key: spec.default for spec in RULES}


def _kinds(mailoutbox, telegram):
    mails = [m.subject.split(":")[0].removeprefix("[amoerp] ") for m in mailoutbox]
    texts = [t["text"].split(":")[0].removeprefix("[amoerp] ") for t in telegram.received]
    return mails, texts


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_a_rule_fires_once_per_incident_reminds_and_resolves(key, erp, crm, channels, telegram, mailoutbox):
    make, clear = SCENARIOS[key]
    evaluate()
    assert not mailoutbox and not telegram.received, "nothing is wrong yet"
    Rule.objects.filter(key=key).update(remind_minutes=30)

    make(erp, crm)
    first = evaluate()
    evaluate()
    assert [i.rule for i in first.opened] == [key]
    assert _kinds(mailoutbox, telegram) == (["ALERT"], ["ALERT"])
    assert mailoutbox[0].to == ["ops@example.com", "boss@example.com"]
    assert telegram.received[0]["path"] == f"/bot{BOT_TOKEN}/sendMessage"
    assert telegram.received[0]["chat_id"] == "-100777"

    later = evaluate(timezone.now() + timedelta(minutes=31))
    assert [i.rule for i in later.reminded] == [key]
    assert _kinds(mailoutbox, telegram) == (["ALERT", "STILL ON"], ["ALERT", "STILL ON"])

    clear(erp, crm)
    done = evaluate(timezone.now() + timedelta(minutes=32))
    evaluate(timezone.now() + timedelta(minutes=33))
    assert [i.rule for i in done.resolved] == [key]
    assert _kinds(mailoutbox, telegram) == (["ALERT", "STILL ON", "RESOLVED"], ["ALERT", "STILL ON", "RESOLVED"])
    incident = Incident.objects.get(rule=key)
    assert incident.status == "resolved" and incident.reminders == 1
    assert Notification.objects.filter(incident=incident, ok=True).count() == 6
    assert not any(BOT_TOKEN in n.text for n in Notification.objects.all())



def test_the_same_trouble_again_is_a_new_incident(erp, crm, channels, telegram, mailoutbox):
    make, clear = SCENARIOS["dead_letters"]
    make(erp, crm)
    evaluate()
    clear(erp, crm)
    evaluate()
    make(erp, crm)
    assert [i.rule for i in evaluate().opened] == ["dead_letters"]
    assert Incident.objects.filter(rule="dead_letters").count() == 2
    assert [m.subject.split(":")[0] for m in mailoutbox] == ["[amoerp] ALERT", "[amoerp] RESOLVED", "[amoerp] ALERT"]


def test_a_disabled_rule_sends_nothing_and_resolves_its_incident(erp, crm, channels, telegram, mailoutbox):
    SCENARIOS["dead_letters"][0](erp, crm)
    evaluate()
    Rule.objects.filter(key="dead_letters").update(enabled=False)
    assert [i.rule for i in evaluate().resolved] == ["dead_letters"]


def test_a_telegram_failure_is_recorded_without_the_token_and_email_still_goes(erp, crm, channels, telegram,
                                                                                 mailoutbox):
    telegram.fail = True
    SCENARIOS["dead_letters"][0](erp, crm)
    evaluate()
    assert len(mailoutbox) == 1
    failed = Notification.objects.get(channel="telegram")
    assert not failed.ok and "500" in failed.error and BOT_TOKEN not in failed.error


def test_manage_alerts_test_sends_on_both_channels(channels, telegram, mailoutbox, capsys):
    call_command("alerts", "test")
    assert len(mailoutbox) == 1 and "Test" in mailoutbox[0].subject
    assert len(telegram.received) == 1 and "Test" in telegram.received[0]["text"]
    out = capsys.readouterr().out
    assert "email: sent" in out and "telegram: sent" in out


def test_the_admin_keeps_the_token_encrypted_masked_and_sends_a_test(admin_client, channels, telegram, mailoutbox):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM alerts_alertsettings")
        assert BOT_TOKEN not in cursor.fetchone()[0]
    url = f"/admin/alerts/alertsettings/{channels.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert BOT_TOKEN not in page and "12…ef" in page and 'id="alerts-send-test"' in page

    form = {"email_enabled": "on", "email_recipients": "ops@example.com", "telegram_enabled": "on",
            "telegram_chat_id": "-100777", "telegram_token": ""}
    assert admin_client.post(url, form).status_code == 302
    assert AlertSettings.load().telegram_token == BOT_TOKEN, "an empty field keeps the stored token"
    bad = admin_client.post(url, {**form, "email_recipients": "not-an-address"}).content.decode()
    assert "Not an e-mail address: not-an-address" in bad

    response = admin_client.post(f"/admin/alerts/alertsettings/{channels.pk}/test/", follow=True)
    assert "Test alert sent: telegram" in response.content.decode()
    assert len(mailoutbox) == 1 and len(telegram.received) == 1


def test_the_health_rule_names_the_failing_part_and_skips_backend_parts(erp, crm, channels, telegram, mailoutbox):
    _run(erp, "succeeded", ago=timedelta(hours=30))  # /health/ fails on backend:moysklad too: sync_stale says it
    _late_schedule()
    evaluate()
    incident = Incident.objects.get(rule="health")
    assert incident.subject == "queue"
    assert "schedule(s) more than" in incident.message and "is qcluster running?" in incident.message
    assert not Incident.objects.filter(rule="health", subject__startswith="backend:").exists()


def test_the_alerts_schedule_runs_the_rules(erp, crm, channels, telegram, mailoutbox):
    from django_q.models import Schedule
    from django_q.tasks import async_task, result

    call_command("setup_schedules")
    schedule = Schedule.objects.get(name="amoerp: alerts")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)
    SCENARIOS["dead_letters"][0](erp, crm)
    task_id = async_task(schedule.func, sync=True)
    assert result(task_id) == "opened 1, reminded 0, resolved 0"
    assert len(mailoutbox) == 1 and len(telegram.received) == 1
