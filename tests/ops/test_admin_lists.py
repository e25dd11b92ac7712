"""What staff use daily in the admin: exchange bodies formatted and collapsible, search on the lists."""

from __future__ import annotations

import json

import pytest

from integration.models import Backend, JournalEntry, SyncRun

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def erp(db):
    return Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")


def test_a_json_body_is_indented_and_a_long_one_starts_folded(admin_client, erp):
    short = json.dumps({"name": "Кабель ВВГ", "rows": [1, 2]})
    long = json.dumps({"rows": [{"id": i, "name": f"товар {i}"} for i in range(30)]})
    entry = JournalEntry.objects.create(backend=erp, direction="out", method="POST", url="/entity/product",
                                        status_code=200, request_body=short, response_body=long)
    page = admin_client.get(f"/admin/integration/journalentry/{entry.pk}/change/").content.decode()
    assert '<details class="staff-body" open>' in page, "a short body is shown open"
    assert "&quot;name&quot;: &quot;Кабель ВВГ&quot;" in page and "\n  &quot;rows&quot;: [" in page, \
        "JSON indented, Cyrillic as is"
    assert page.count('<details class="staff-body">') == 1, "a long body starts folded"


def test_a_truncated_body_is_shown_as_it_is(admin_client, erp):
    entry = JournalEntry.objects.create(backend=erp, direction="in", method="GET", url="/x", status_code=200,
                                        response_body='{"rows": [{"id": 1}, … (truncated)')
    page = admin_client.get(f"/admin/integration/journalentry/{entry.pk}/change/").content.decode()
    assert "{&quot;rows&quot;: [{&quot;id&quot;: 1}, … (truncated)" in page


def test_sync_runs_are_searchable_by_error_and_backend(admin_client, erp):
    SyncRun.objects.create(backend=erp, kind="stock", status="failed", error="HTTP 503 from MoySklad")
    SyncRun.objects.create(backend=erp, kind="catalog", status="succeeded")
    found = admin_client.get("/admin/integration/syncrun/", {"q": "503"}).context_data["cl"].result_list
    assert [run.kind for run in found] == ["stock"]
    found = admin_client.get("/admin/integration/syncrun/", {"q": "moysklad"}).context_data["cl"].result_list
    assert len(found) == 2


def test_a_sync_run_links_to_its_progress(admin_client, erp):
    from integration.syncruns import sync_run

    with sync_run(erp, "stock") as run:
        run.add(created=3)
    page = admin_client.get(f"/admin/integration/syncrun/{run.pk}/change/").content.decode()
    assert f'href="/admin/staff/progress/{run.progress.pk}/" id="sync-run-progress"' in page
    assert (run.progress.done, run.progress.status) == (3, "succeeded"), "counted records are what it did"
