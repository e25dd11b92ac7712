"""Client-level tests of the staff pages: runbook, language switcher, kill switch and dry run, per group."""

import pytest
from django.urls import reverse

from integration import syncs
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db
TEST_KIND = "test_erp"  # a kind no connector serves: the sync below is registered for it alone


@pytest.fixture
def erp(db):
    return Backend.objects.create(
        name="erp", kind=TEST_KIND, base_url="http://127.0.0.1:9/", credentials={"password": "s3cret"}
    )


def client_for(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_runbook_in_russian_and_english(client, operator):
    client_for(client, operator)
    ru = client.get(reverse("staff:runbook"), HTTP_ACCEPT_LANGUAGE="ru")
    assert ru.status_code == 200
    text = ru.content.decode()
    assert "Регламент" in text and "Резерв ожидается" in text and 'id="language-switcher"' in text
    client.cookies["django_language"] = "en"
    en = client.get(reverse("staff:runbook")).content.decode()
    assert "Runbook: what to do when the integration fails" in en and "Reserve pending" in en


def test_runbook_needs_a_staff_login(client):
    response = client.get(reverse("staff:runbook"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_language_switcher_posts_to_setlang(client, auditor):
    client_for(client, auditor)
    page = client.get("/admin/").content.decode()
    assert f'action="{reverse("set_language")}"' in page
    response = client.post(reverse("set_language"), {"language": "ru", "next": "/admin/"})
    assert response.status_code == 302
    assert "Панель интеграции" in client.get("/admin/").content.decode()


def test_auditor_sees_the_dashboard_but_cannot_switch_or_dry_run(client, auditor, erp):
    client_for(client, auditor)
    page = client.get("/admin/").content.decode()
    assert 'id="staff-dashboard"' in page and 'data-backend="erp"' in page
    assert reverse("staff:backend-pause", args=[erp.pk]) not in page
    assert client.get(reverse("staff:backend-pause", args=[erp.pk])).status_code == 403
    assert client.post(reverse("staff:backend-pause", args=[erp.pk]), {"reason": "x"}).status_code == 403
    assert client.post(reverse("staff:backend-resume", args=[erp.pk])).status_code == 403
    assert client.post(reverse("staff:backend-dry-run", args=[erp.pk]), {"kind": "catalog"}).status_code == 403
    erp.refresh_from_db()
    assert not erp.paused


@pytest.mark.parametrize("who", ["operator", "integration_admin"])
def test_pause_needs_a_reason_then_holds_and_resumes(client, erp, who, request):
    user = request.getfixturevalue(who)
    client_for(client, user)
    url = reverse("staff:backend-pause", args=[erp.pk])
    assert url in client.get("/admin/").content.decode()

    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    erp.refresh_from_db()
    assert not erp.paused

    assert client.post(url, {"reason": "1C update tonight"}).status_code == 302
    erp.refresh_from_db()
    assert erp.paused and erp.paused_reason == "1C update tonight"
    last = erp.history.latest()
    assert last.history_user == user and last.paused
    dashboard = client.get("/admin/").content.decode()
    assert "1C update tonight" in dashboard and reverse("staff:backend-resume", args=[erp.pk]) in dashboard

    assert client.post(reverse("staff:backend-resume", args=[erp.pk])).status_code == 302
    erp.refresh_from_db()
    assert not erp.paused and erp.paused_reason == ""


@pytest.fixture
def test_kind_catalog_sync():
    """A sync for the test backend kind that reports a diff the way connectors do, honouring dry_run."""

    def sync(backend, *, full, dry_run, progress=None):
        with sync_run(backend, "catalog", full=full, dry_run=dry_run) as run:
            run.created, run.updated, run.unchanged = 1, 1, 3
            run.details = {
                "diff": [
                    {"action": "create", "model": "product", "external_id": "p-1", "object": "Гвоздь 100 мм",
                     "changes": {"name": [None, "Гвоздь 100 мм"]}},
                    {"action": "update", "model": "product", "external_id": "p-2", "object": "Шуруп",
                     "changes": {"vat_rate": ["20", "22"]}},
                ],
                "pages": 1,
            }
            if not dry_run:
                backend.cursors["catalog"] = "written"
                backend.save(update_fields=["cursors"])
        return run

    syncs.register("catalog", backend_kinds=(TEST_KIND,))(sync)
    yield sync
    syncs._registry["catalog"] = [entry for entry in syncs._registry.get("catalog", []) if entry.fn is not sync]


def test_dry_run_shows_the_diff_and_writes_nothing(client, operator, erp, test_kind_catalog_sync):
    client_for(client, operator)
    url = reverse("staff:backend-dry-run", args=[erp.pk])
    form = client.get(url).content.decode()
    assert 'value="catalog"' in form
    page = client.post(url, {"kind": "catalog", "full": "on"}).content.decode()
    assert 'id="dry-run-diff"' in page and "Гвоздь 100 мм" in page and "<del>20</del>" in page
    run = SyncRun.objects.get()
    assert run.dry_run and run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    erp.refresh_from_db()
    assert "catalog" not in erp.cursors
    again = client.get(f"{url}?run={run.pk}").content.decode()  # runs listed and reopened later
    assert f'href="?run={run.pk}"' in again and "Гвоздь 100 мм" in again


def test_dry_run_of_a_paused_backend_says_why(client, integration_admin, erp, test_kind_catalog_sync):
    erp.paused = True
    erp.save()
    client_for(client, integration_admin)
    page = client.post(reverse("staff:backend-dry-run", args=[erp.pk]), {"kind": "catalog"}).content.decode()
    assert 'id="dry-run-error"' in page and "paused" in page
    assert not SyncRun.objects.exists()
