"""The «Сверка» page shows the last report with each drift's values; only integration admins run it with
repair. The nightly schedule runs the same reconciliation with repair and stores its report."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_q.models import Schedule

from integration import tasks
from integration.models import JournalEntry
from integration.schedules import specs
from integration.staff.groups import ADMIN_GROUP, AUDITOR_GROUP, OPERATOR_GROUP
from integration.staff.models import ReconcileRun
from tests.admin_ui.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URL = "/admin/staff/reconciliation/"


def _as(client, user):
    client.logout()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_page_shows_the_drift_and_only_an_integration_admin_repairs_it(client, backend, ms, amo, placed):
    admin, operator, auditor = (make_user("admin1", ADMIN_GROUP), make_user("operator1", OPERATOR_GROUP),
                                make_user("auditor1", AUDITOR_GROUP))
    assert reverse("staff:reconcile") == URL
    ms.control("moysklad/stock", {"article": "MVA20-1-016-C", "store": "Москва", "stock": 777})
    call_command("reconcile", "--no-progress", stdout=StringIO())

    for viewer in (operator, auditor):
        page = _as(client, viewer).get(URL)
        assert page.status_code == 200
        html = page.content.decode()
        assert "MVA20-1-016-C @ Москва" in html and "on hand 777" in html
        assert 'id="reconcile-form"' not in html
        assert client.post(URL).status_code == 403
    assert ReconcileRun.objects.count() == 1

    page = _as(client, admin).get(URL)
    assert 'id="reconcile-form"' in page.content.decode()
    assert 'id="reconcile-link"' in client.get("/admin/").content.decode()  # linked from the dashboard
    after = client.post(URL, follow=True)
    assert after.status_code == 200
    run = ReconcileRun.objects.first()
    assert (run.trigger, run.repair, run.started_by, run.status) == ("admin", True, admin, "succeeded")
    assert run.repaired >= 1 and run.drifts[0]["repaired"] is True
    assert JournalEntry.objects.filter(method="REPAIR", url__contains="MVA20-1-016-C").exists()
    assert f'<td id="reconcile-repaired">{run.repaired}</td>' in after.content.decode()

    call_command("reconcile", "--no-progress", stdout=StringIO())
    html = client.get(URL).content.decode()
    assert 'id="reconcile-drifts">0<' in html and 'id="reconcile-drift-list"' not in html


def test_the_nightly_schedule_reconciles_with_repair_and_stores_the_report(backend, ms, amo, placed):
    spec = next(s for s in specs() if s.func == "integration.tasks.reconcile_nightly")
    assert spec.cron == "0 4 * * *"
    Schedule.objects.create(name="amoerp: ERP order flow reconcile", func="integration.tasks.reconcile_erp",
                            schedule_type=Schedule.MINUTES, minutes=4)
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert not Schedule.objects.filter(name="amoerp: ERP order flow reconcile").exists()
    assert Schedule.objects.filter(func="integration.tasks.sync_erp_changes").exists()

    ms.control("moysklad/product", {"article": "MVA20-1-016-C", "prices": {"Розничная": "612.34"}})
    outcome = tasks.reconcile_nightly()
    assert outcome["drifts"] >= 1 and outcome["repaired"] == outcome["drifts"] and outcome["open"] == 0
    run = ReconcileRun.objects.get()
    assert (run.trigger, run.repair, run.status) == ("schedule", True, "succeeded")
    assert tasks.reconcile_nightly() == {"drifts": 0, "repaired": 0, "open": 0}
