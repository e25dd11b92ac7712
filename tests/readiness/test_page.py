"""The «Готовность к запуску» page over HTTP: the checks with their offenders, the export, the acknowledgement
(who and when, refused without the right), the start page's banner, and `manage.py readiness`."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import load_workbook

from catalog.models import Product, Unit
from counterparties.models import Counterparty
from integration.staff.groups import ADMIN_GROUP, AUDITOR_GROUP
from integration.staff.models import ReadinessAck, ReadinessRun
from tests.admin_ui.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
PAGE = "/admin/staff/readiness/"


@pytest.fixture
def broken():
    unit = Unit.objects.create(okei_code="796", name="штука", short_name="шт")
    Product.objects.create(article="A-1", name="Розетка", unit=unit)
    return Counterparty.objects.create(kind="legal", name="ООО Опечатка", inn="7707083894", kpp="773601001")


def logged_in(client, group: str):
    user = make_user(f"user-{group[:5]}", group)
    assert client.login(username=user.username, password=PASSWORD)
    return user


def test_the_page_lists_checks_offenders_and_fixes_and_the_index_shows_what_is_open(client, broken):
    logged_in(client, AUDITOR_GROUP)
    assert 'id="readiness-banner"' in client.get("/admin/").content.decode()  # never run yet

    page = client.get(PAGE).content.decode()

    assert 'data-check="counterparties" data-status="fail"' in page
    assert reverse("admin:counterparties_counterparty_change", args=[broken.pk]) in page
    assert "ООО Опечатка" in page and "How to fix" in page
    assert 'class="readiness-ack"' not in page  # an auditor may not acknowledge
    run = ReadinessRun.objects.get()
    assert run.status == "fail"
    index = client.get("/admin/").content.decode()
    assert 'id="readiness-link"' in index and 'data-check="counterparties"' in index


def test_the_export_lists_every_offender_with_its_admin_link(client, broken):
    logged_in(client, AUDITOR_GROUP)
    client.get(PAGE)
    link = "http://testserver" + reverse("admin:counterparties_counterparty_change", args=[broken.pk])

    response = client.get(reverse("staff:readiness-export", args=["csv"]))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert response["Content-Disposition"].endswith('.csv"')
    assert any(row[2] == "ООО Опечатка" and row[5] == link for row in rows[1:])

    response = client.get(reverse("staff:readiness-export", args=["xlsx"]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert any(row[2] == "ООО Опечатка" and row[5] == link for row in values)


def test_acknowledging_records_who_and_when_and_clears_the_banner(client, broken):
    auditor_client = client.__class__()
    logged_in(auditor_client, AUDITOR_GROUP)
    url = reverse("staff:readiness-acknowledge", args=["counterparties"])
    assert auditor_client.post(url, {"count": "1"}).status_code == 403

    admin = logged_in(client, ADMIN_GROUP)
    client.get(PAGE)
    failing = [row["code"] for row in ReadinessRun.objects.get().results if not row["settled"]]
    assert "counterparties" in failing
    for code in failing:
        count = next(row["count"] for row in ReadinessRun.objects.get().results if row["code"] == code)
        response = client.post(reverse("staff:readiness-acknowledge", args=[code]),
                               {"count": str(count), "note": "известно"})
        assert response.status_code == 302

    ack = ReadinessAck.objects.get(code="counterparties")
    assert ack.acknowledged_by == admin and ack.note == "известно" and ack.count == 1
    assert 'id="readiness-banner"' not in client.get("/admin/").content.decode()
    page = client.get(PAGE).content.decode()
    assert f"by {admin.username}" in page and 'data-status="pass"' in page

    Counterparty.objects.create(kind="legal", name="ООО Вторая", inn="1234567890", kpp="773601001")
    client.get(PAGE)  # one more offender: the acknowledgement no longer covers the check
    assert 'data-check="counterparties"' in client.get("/admin/").content.decode()


def test_the_command_prints_json_and_fails_while_a_check_fails(broken):
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("readiness", "--json", stdout=out)
    assert raised.value.returncode == 1
    data = json.loads(out.getvalue())
    by_code = {check["code"]: check for check in data["checks"]}
    assert data["status"] == "fail" and by_code["counterparties"]["count"] == 1
    assert by_code["counterparties"]["offenders"][0]["label"] == "ООО Опечатка"
    assert ReadinessRun.objects.count() == 1

    out = io.StringIO()
    call_command("readiness", "--check", "articles", stdout=out)
    assert "[PASS] articles" in out.getvalue() and "overall: pass" in out.getvalue()


def test_the_start_page_opens_the_last_stored_run_without_running_the_checks_again(client, broken):
    logged_in(client, AUDITOR_GROUP)
    client.get(PAGE)
    Counterparty.objects.create(kind="legal", name="ООО Вторая", inn="1234567890", kpp="773601001")

    index = client.get("/admin/").content.decode()
    stored = client.get(PAGE + "?stored=1").content.decode()

    assert f'href="{PAGE}?stored=1"' in index
    assert ReadinessRun.objects.count() == 1 and "ООО Вторая" not in stored  # the stored run, as it was
    assert "ООО Вторая" in client.get(PAGE).content.decode() and ReadinessRun.objects.count() == 2
