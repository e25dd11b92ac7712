"""The django-q2 schedules of the integration, created idempotently by name (`manage.py setup_schedules`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    schedule_type: str  # django_q Schedule.MINUTES / CRON / DAILY
    minutes: int | None = None
    cron: str | None = None
    kwargs: str = ""


def specs() -> list[ScheduleSpec]:
    from django_q.models import Schedule

    from . import connectors

    return [
        # A safety net: `manage.py queue_worker` delivers continuously; this drains what is due if it is down.
        ScheduleSpec("amoerp: outbox relay + inbox", "integration.tasks.drain_queue", Schedule.MINUTES, minutes=1),
        ScheduleSpec("amoerp: stock refresh", "integration.tasks.refresh_stock", Schedule.MINUTES, minutes=4),
        # Lost ERP webhooks (orders, invoices, demands, payments, returns) recovered within the stock interval.
        ScheduleSpec("amoerp: ERP order flow changes", "integration.tasks.sync_erp_changes", Schedule.MINUTES,
                     minutes=4),
        # New and changed products (prices, stock) to the amoCRM catalog; only changed elements are sent.
        ScheduleSpec("amoerp: amoCRM catalog push", "integration.tasks.push_crm_catalog", Schedule.MINUTES, minutes=10),
        ScheduleSpec("amoerp: counterparties from the ERP", "integration.tasks.sync_counterparties", Schedule.MINUTES,
                     minutes=15),
        # Cron expressions are evaluated in TIME_ZONE (Europe/Moscow).
        # Products, names and prices changed since the cursor: a product webhook MoySklad gave up on (after three
        # tries) would otherwise leave the old price in the widget until the night. One page when little changed.
        ScheduleSpec("amoerp: catalog changes", "integration.tasks.sync_catalog", Schedule.MINUTES, minutes=10),
        ScheduleSpec("amoerp: prices nightly", "integration.tasks.sync_prices", Schedule.CRON, cron="0 2 * * *"),
        ScheduleSpec("amoerp: nightly purge", "integration.tasks.purge", Schedule.CRON, cron="30 3 * * *"),
        ScheduleSpec("amoerp: our organization nightly", "integration.tasks.run_sync_kind", Schedule.CRON,
                     cron="15 2 * * *", kwargs="kind='organization'"),
        # After the nightly catalog, prices and purge: compare every side and repair what is safe (the report
        # is on the «Сверка» page); runs in a quiet hour, a full pass reads every ERP page.
        ScheduleSpec("amoerp: reconciliation nightly", "integration.tasks.reconcile_nightly", Schedule.CRON,
                     cron="0 4 * * *"),
        *connectors.schedule_specs(),
        # Alert rules: a message per new incident, reminders while it lasts, one when it is resolved.
        ScheduleSpec("amoerp: alerts", "integration.alerts.tasks.evaluate_alerts", Schedule.MINUTES, minutes=1),
        # The dashboard's KPI panel and charts, computed ahead into the shared cache (nobody waits for them).
        ScheduleSpec("amoerp: dashboard precompute", "integration.staff.precompute.precompute_dashboard",
                     Schedule.MINUTES, minutes=1),
    ]


# Schedules of earlier versions, deleted by setup_schedules (their task functions are gone or renamed).
RETIRED = ("amoerp: ERP order flow reconcile", "amoerp: catalog nightly")


def _first_run(spec: ScheduleSpec) -> datetime:
    from croniter import croniter
    from django_q.models import Schedule

    now = timezone.localtime()
    if spec.schedule_type == Schedule.CRON:
        return croniter(spec.cron, now).get_next(datetime)
    return timezone.make_aware(datetime.combine(now.date(), time(now.hour, now.minute))) + timedelta(minutes=1)


def setup_schedules() -> dict[str, str]:
    """Create or update every schedule by name, delete retired ones; returns {name: "created" | "updated" |
    "unchanged" | "deleted"}."""
    from django_q.models import Schedule

    outcome: dict[str, str] = {}
    with transaction.atomic():
        for name in RETIRED:
            if Schedule.objects.filter(name=name).delete()[0]:
                outcome[name] = "deleted"
        for spec in specs():
            wanted = {
                "func": spec.func,
                "schedule_type": spec.schedule_type,
                "minutes": spec.minutes,
                "cron": spec.cron,
                "kwargs": spec.kwargs or None,
                "repeats": -1,
            }
            rows = list(Schedule.objects.select_for_update().filter(name=spec.name).order_by("id"))
            for duplicate in rows[1:]:
                duplicate.delete()
            if not rows:
                Schedule.objects.create(name=spec.name, next_run=_first_run(spec), **wanted)
                outcome[spec.name] = "created"
                continue
            row = rows[0]
            changed = [key for key, value in wanted.items() if getattr(row, key) != value]
            if changed:
                for key in changed:
                    setattr(row, key, wanted[key])
                row.next_run = _first_run(spec)
                row.save()
                outcome[spec.name] = "updated"
            else:
                outcome[spec.name] = "unchanged"
    return outcome
