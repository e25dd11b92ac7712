"""Schedules are created idempotently by name, with the intended cadence."""

import io

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from integration.schedules import specs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_setup_schedules_twice_gives_the_same_rows():
    call_command("setup_schedules", stdout=io.StringIO())
    first = {s.name: (s.pk, s.func, s.schedule_type, s.minutes, s.cron, s.next_run) for s in Schedule.objects.all()}
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    second = {s.name: (s.pk, s.func, s.schedule_type, s.minutes, s.cron, s.next_run) for s in Schedule.objects.all()}
    assert first == second and len(first) == len(specs())
    assert out.getvalue().count("unchanged") == len(specs())
    by_func = {s.func: s for s in Schedule.objects.all()}
    assert by_func["integration.tasks.refresh_stock"].minutes == 4
    assert by_func["integration.tasks.sync_erp_changes"].minutes == 4
    assert by_func["integration.tasks.push_crm_catalog"].minutes == 10
    assert by_func["integration.tasks.sync_counterparties"].minutes == 15
    assert by_func["integration.tasks.sync_catalog"].minutes == 10  # lost product webhooks within minutes
    assert by_func["integration.tasks.sync_prices"].cron == "0 2 * * *"
    nightly = by_func["integration.tasks.sync_prices"].next_run
    from django.utils import timezone

    assert timezone.localtime(nightly).hour == 2 and timezone.localtime(nightly).minute == 0  # 02:00 Moscow
    assert by_func["integration.tasks.drain_queue"].minutes == 1  # the safety net under queue_worker


def test_setup_schedules_repairs_edited_and_duplicated_rows():
    call_command("setup_schedules", stdout=io.StringIO())
    stock = Schedule.objects.get(func="integration.tasks.refresh_stock")
    Schedule.objects.filter(pk=stock.pk).update(minutes=60)
    Schedule.objects.create(name=stock.name, func="integration.tasks.refresh_stock", schedule_type="I", minutes=1)
    call_command("setup_schedules", stdout=io.StringIO())
    rows = Schedule.objects.filter(name=stock.name)
    assert rows.count() == 1 and rows.get().minutes == 4 and rows.get().pk == stock.pk
