"""Client-level rights of the three groups on the real admin: credentials, actions, POSTs."""

import re
from datetime import timedelta

import pytest
import requests
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from counterparties.models import Counterparty
from integration.models import Backend, Conflict, OutboxEvent, Override

from .conftest import PASSWORD
from .data import backends, duplicate_counterparties

pytestmark = pytest.mark.django_db

BACKEND_CHANGE = "/admin/integration/backend/{}/change/"


@pytest.fixture
def erp():
    return backends()[1]


@pytest.fixture
def dead(erp):
    return OutboxEvent.objects.create(
        backend=erp, topic="erp.order.upsert", aggregate_type="orders.order", aggregate_id="9", payload={},
        idempotency_key="order-9", status=OutboxEvent.Status.DEAD, attempts=2, max_attempts=2,
    )


@pytest.fixture
def conflict():
    client = Counterparty.objects.create(kind="legal", name="Ромашка", inn="7707083893", kpp="773601001")
    return Conflict.objects.create(content_type=ContentType.objects.get_for_model(Counterparty), object_id=client.pk,
                                   field="name", erp_value="ООО Ромашка", crm_value="Ромашка")


def logged_in(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def action(client, url, name, *pks, **extra):
    return client.post(url, {"action": name, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **extra})


def test_operator_never_sees_credentials(client, operator, erp):
    page = logged_in(client, operator).get(BACKEND_CHANGE.format(erp.pk)).content.decode()
    assert "secret-password" not in page and "se…rd" not in page
    assert "credentials_update" not in page and "Credentials" not in page
    listing = client.get("/admin/integration/backend/").content.decode()
    assert "se…rd" not in listing and "column-credentials_masked" not in listing


def test_operator_cannot_change_a_backend_or_its_credentials(client, operator, erp):
    logged_in(client, operator)
    response = client.post(BACKEND_CHANGE.format(erp.pk), {
        "name": "erp", "kind": "moysklad", "base_url": "https://evil.example/", "active": "on",
        "credentials_update": '{"password": "mine"}', "settings": "{}",
    })
    assert response.status_code == 403
    erp.refresh_from_db()
    assert erp.credentials["password"] == "secret-password" and erp.base_url == "http://127.0.0.1:9/"


def test_admin_sees_masked_credentials_and_can_change_them(client, integration_admin, erp):
    logged_in(client, integration_admin)
    page = client.get(BACKEND_CHANGE.format(erp.pk)).content.decode()
    assert "se…rd" in page and 'name="credentials_update"' in page
    assert "secret-password" not in page  # masked even for admins
    response = client.post(BACKEND_CHANGE.format(erp.pk), {
        "name": "erp", "kind": "moysklad", "base_url": "http://127.0.0.1:9/", "active": "on",
        "credentials_update": '{"password": "rotated-password"}', "settings": "{}", "paused_reason": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    erp.refresh_from_db()
    assert erp.credentials == {"login": "admin@x", "password": "rotated-password"}


def test_operator_replays_and_resolves(client, operator, dead, conflict):
    logged_in(client, operator)
    assert action(client, "/admin/integration/outboxevent/", "replay_selected", dead.pk).status_code == 302
    dead.refresh_from_db()
    assert dead.status == OutboxEvent.Status.PENDING
    response = action(client, "/admin/integration/conflict/", "take_erp", conflict.pk, apply="1",
                      choice="take_erp", reason="ERP is right")
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.RESOLVED and conflict.resolved_by == operator


def test_auditor_is_offered_no_action_and_running_one_changes_nothing(client, auditor, dead, conflict, erp):
    logged_in(client, auditor)
    for url in ("/admin/integration/outboxevent/", "/admin/integration/conflict/", "/admin/integration/backend/",
                "/admin/orders/order/"):
        page = client.get(url).content.decode()
        assert client.get(url).status_code == 200
        assert 'name="action"' not in page, url
    action(client, "/admin/integration/outboxevent/", "replay_selected", dead.pk)
    action(client, "/admin/integration/outboxevent/", "discard_selected", dead.pk)
    action(client, "/admin/integration/conflict/", "take_erp", conflict.pk, apply="1", choice="take_erp", reason="x")
    action(client, "/admin/integration/backend/", "pause_selected", erp.pk)
    client.post(f"/admin/integration/outboxevent/{dead.pk}/replay/")
    client.post(f"/admin/integration/conflict/{conflict.pk}/resolve/", {"choice": "take_erp", "reason": "x"})
    dead.refresh_from_db()
    conflict.refresh_from_db()
    erp.refresh_from_db()
    assert dead.status == OutboxEvent.Status.DEAD
    assert conflict.status == Conflict.Status.OPEN
    assert not erp.paused


def test_auditor_gets_403_on_change_and_add_posts(client, auditor, erp):
    logged_in(client, auditor)
    assert client.post(BACKEND_CHANGE.format(erp.pk), {"name": "x"}).status_code == 403
    assert client.post("/admin/integration/override/add/", {"field": "name"}).status_code == 403
    assert client.post(f"/admin/integration/backend/{erp.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Backend.objects.filter(pk=erp.pk).exists() and not Override.objects.exists()


def test_auditor_cannot_merge_counterparties(client, auditor):
    keep, dup = duplicate_counterparties()
    logged_in(client, auditor)
    action(client, "/admin/counterparties/counterparty/", "merge_selected", keep.pk, dup.pk,
           survivor=str(keep.pk), reason="x", confirm="yes")
    dup.refresh_from_db()
    assert dup.merged_into_id is None


def test_operator_merges_counterparties(client, operator):
    keep, dup = duplicate_counterparties()
    logged_in(client, operator)
    assert 'value="merge_selected"' in client.get("/admin/counterparties/counterparty/").content.decode()
    action(client, "/admin/counterparties/counterparty/", "merge_selected", keep.pk, dup.pk,
           survivor=str(keep.pk), reason="x", confirm="yes")
    dup.refresh_from_db()
    assert dup.merged_into_id == keep.pk


def test_credentials_stay_hidden_even_with_change_rights(client, operator, erp):
    """A user given change_backend but not staff.view_credentials edits the rest, never the secrets."""
    from django.contrib.auth.models import Permission

    operator.user_permissions.add(Permission.objects.get(codename="change_backend"))
    logged_in(client, operator)
    page = client.get(BACKEND_CHANGE.format(erp.pk)).content.decode()
    assert 'name="base_url"' in page and "credentials_update" not in page and "se…rd" not in page
    response = client.post(BACKEND_CHANGE.format(erp.pk), {
        "name": "erp", "kind": "moysklad", "base_url": "http://127.0.0.1:10/", "active": "on",
        "credentials_update": '{"password": "mine"}', "settings": "{}", "paused_reason": "",
    })
    assert response.status_code == 302
    erp.refresh_from_db()
    assert erp.base_url == "http://127.0.0.1:10/" and erp.credentials["password"] == "secret-password"


def admin_login(base_url: str, username: str, password: str) -> requests.Response:
    """The admin login form as a browser posts it (CSRF cookie and token from the page)."""
    session = requests.Session()
    page = session.get(f"{base_url}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(f"{base_url}/admin/login/?next=/admin/", timeout=30, allow_redirects=False,
                        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
                        headers={"Referer": f"{base_url}/admin/login/"})


@pytest.mark.django_db(transaction=True)
def test_failed_admin_logins_lock_the_user_out_for_a_while(live_server, operator, auditor, settings):
    from axes.models import AccessAttempt

    url = live_server.url
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert admin_login(url, operator.username, "wrong").status_code == 200  # the form again, with the error
    locked = admin_login(url, operator.username, "wrong")
    assert locked.status_code == 429
    # Locked out: the right password does not help until the cool-off has passed...
    assert admin_login(url, operator.username, PASSWORD).status_code == 429
    # ...another user still logs in, and the lock ends with the cool-off (or when an integration admin unlocks).
    assert admin_login(url, auditor.username, PASSWORD).status_code == 302
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    ok = admin_login(url, operator.username, PASSWORD)
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/"
    assert not AccessAttempt.objects.filter(username=operator.username).exists()  # reset on success
