"""The admin: masked credentials, replay/discard actions, conflict resolution, overrides, journal links."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from counterparties.models import Counterparty
from integration import outbox
from integration.admin import journal_link
from integration.journal import Exchange, correlation_for, write
from integration.models import Backend, Conflict, JournalEntry, OutboxEvent, Override
from integration.overrides import apply_remote_values, pin_value

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.test", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def dead_event(backend):
    event = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="order:1", payload={"url": "http://x/"})
    OutboxEvent.objects.filter(pk=event.pk).update(status="dead", attempts=1, last_error="PermanentError: 422")
    return event


def test_every_changelist_and_change_page_renders(admin_client, backend, dead_event):
    company = Counterparty.objects.create(name="Ромашка")
    pin_value(company, "name", "Pinned", author=admin_client.user, reason="r")
    apply_remote_values(company, {"name": "ERP"})
    write(Exchange("out", "GET", "https://x.test/a?token=T"), backend, correlation_for(company))
    for model in ("backend", "binding", "outboxevent", "inboxmessage", "journalentry", "syncrun", "conflict", "override"):
        response = admin_client.get(reverse(f"admin:integration_{model}_changelist"))
        assert response.status_code == 200, model
    for model, obj in [("backend", backend), ("outboxevent", dead_event), ("conflict", Conflict.objects.get()),
                       ("journalentry", JournalEntry.objects.get()), ("override", Override.objects.get())]:
        assert admin_client.get(reverse(f"admin:integration_{model}_change", args=[obj.pk])).status_code == 200, model


def test_backend_credentials_are_masked_and_write_only(admin_client, backend):
    page = admin_client.get(reverse("admin:integration_backend_change", args=[backend.pk])).content.decode()
    assert "tok-SECRET-0123456789" not in page and "pa55word-xyz" not in page
    assert "to…89" in page
    listing = admin_client.get(reverse("admin:integration_backend_changelist")).content.decode()
    assert "tok-SECRET-0123456789" not in listing
    response = admin_client.post(
        reverse("admin:integration_backend_change", args=[backend.pk]),
        {
            "name": "erp", "kind": "moysklad", "base_url": "https://api.example.test/", "active": "on",
            "paused_reason": "", "settings": "{}", "credentials_update": '{"token": "new-token-987654", "password": null}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    backend.refresh_from_db()
    assert backend.credentials == {"token": "new-token-987654"}
    assert "new-token-987654" not in str(backend.history.first().__dict__)


def test_replay_and_discard_actions(admin_client, backend, dead_event):
    changelist = reverse("admin:integration_outboxevent_changelist")
    response = admin_client.post(changelist, {"action": "replay_selected", ACTION_CHECKBOX_NAME: [dead_event.pk], "index": 0})
    assert response.status_code == 302
    dead_event.refresh_from_db()
    assert dead_event.status == "pending" and dead_event.max_attempts == 1 + 10
    admin_client.post(changelist, {"action": "discard_selected", ACTION_CHECKBOX_NAME: [dead_event.pk], "index": 0})
    dead_event.refresh_from_db()
    assert dead_event.status == "discarded" and "discarded by root" in dead_event.last_error
    admin_client.post(reverse("admin:integration_outboxevent_replay", args=[dead_event.pk]))
    dead_event.refresh_from_db()
    assert dead_event.status == "pending"
    assert admin_client.get(reverse("admin:integration_outboxevent_discard", args=[dead_event.pk])).status_code == 405


def test_replay_needs_the_permission(client, backend, dead_event):
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_outboxevent"))
    client.force_login(user)
    changelist = reverse("admin:integration_outboxevent_changelist")
    client.post(changelist, {"action": "replay_selected", ACTION_CHECKBOX_NAME: [dead_event.pk], "index": 0})
    for name in ("admin:integration_outboxevent_replay", "admin:integration_outboxevent_discard"):
        assert client.post(reverse(name, args=[dead_event.pk])).status_code == 403
    dead_event.refresh_from_db()
    assert dead_event.status == "dead"
    user.user_permissions.add(Permission.objects.get(codename="replay_outboxevent"))
    client.post(reverse("admin:integration_outboxevent_replay", args=[dead_event.pk]))
    dead_event.refresh_from_db()
    assert dead_event.status == "pending"


def test_held_back_events_are_visible(admin_client, backend, dead_event):
    follower = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="order:1", payload={})
    page = admin_client.get(reverse("admin:integration_outboxevent_changelist") + "?blocked=dead").content.decode()
    assert f"#{dead_event.pk}" in page
    assert reverse("admin:integration_outboxevent_change", args=[follower.pk]) in page


def test_bulk_resolution_goes_through_the_reason_form(admin_client):
    a = Counterparty.objects.create(name="A", kind="individual")
    b = Counterparty.objects.create(name="B", kind="individual")
    for company, letter in ((a, "A"), (b, "B")):
        pin_value(company, "name", f"{letter} pinned", author=admin_client.user, reason="r")
        apply_remote_values(company, {"name": f"{letter} ERP"})
    ids = list(Conflict.objects.values_list("pk", flat=True))
    changelist = reverse("admin:integration_conflict_changelist")
    form_page = admin_client.post(changelist, {"action": "take_erp", ACTION_CHECKBOX_NAME: ids, "index": 0})
    assert form_page.status_code == 200 and b'name="reason"' in form_page.content
    done = admin_client.post(changelist, {"action": "take_erp", ACTION_CHECKBOX_NAME: ids, "apply": "1", "choice": "take_erp", "reason": "ERP прав"})
    assert done.status_code == 302
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.name, b.name) == ("A ERP", "B ERP")
    assert set(Conflict.objects.values_list("status", "resolved_by__username", "reason")) == {("resolved", "root", "ERP прав")}


def test_single_resolution_with_a_manual_value(admin_client):
    company = Counterparty.objects.create(name="A", kind="individual")
    pin_value(company, "name", "Pinned", author=admin_client.user, reason="r")
    apply_remote_values(company, {"name": "ERP"})
    conflict = Conflict.objects.get()
    url = reverse("admin:integration_conflict_resolve", args=[conflict.pk])
    assert b"manual" in admin_client.get(url).content
    missing = admin_client.post(url, {"choice": "manual", "reason": "r"})
    assert missing.status_code == 200 and Conflict.objects.get().status == "open"
    admin_client.post(url, {"choice": "manual", "value": "Третье имя", "reason": "сверили"})
    company.refresh_from_db()
    assert company.name == "Третье имя"


def test_single_resolution_needs_the_permission(client, admin_user):
    company = Counterparty.objects.create(name="A", kind="individual")
    pin_value(company, "name", "Pinned", author=admin_user, reason="r")
    apply_remote_values(company, {"name": "ERP"})
    conflict = Conflict.objects.get()
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_conflict"))
    client.force_login(viewer)
    url = reverse("admin:integration_conflict_resolve", args=[conflict.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"choice": "take_erp", "reason": "r"}).status_code == 403
    conflict.refresh_from_db()
    company.refresh_from_db()
    assert conflict.status == "open" and company.name == "Pinned"


def test_override_created_in_the_admin_is_applied(admin_client):
    from django.contrib.contenttypes.models import ContentType

    company = Counterparty.objects.create(name="A", kind="individual")
    response = admin_client.post(
        reverse("admin:integration_override_add"),
        {
            "content_type": ContentType.objects.get_for_model(Counterparty).pk, "object_id": company.pk,
            "field": "name", "value": '"Закреплено"', "reason": "договорились", "expires_at_0": "", "expires_at_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    override = Override.objects.get()
    assert (override.author, override.value) == (admin_client.user, "Закреплено")
    company.refresh_from_db()
    assert company.name == "Закреплено"
    bad = admin_client.post(
        reverse("admin:integration_override_add"),
        {"content_type": ContentType.objects.get_for_model(Counterparty).pk, "object_id": 999999, "field": "name",
         "value": '"x"', "reason": "r"},
    )
    assert bad.status_code == 200 and "999999" in bad.content.decode()


def test_journal_link_opens_the_filtered_journal(admin_client, backend):
    company = Counterparty.objects.create(name="A", kind="individual")
    other = Backend.objects.create(name="amo", kind="amocrm", base_url="https://amo.test/")
    write(Exchange("out", "POST", "https://x.test/mine"), backend, correlation_for(company))
    write(Exchange("out", "POST", "https://x.test/not-mine"), other)
    link = journal_link(company)
    assert "(1)" in link
    url = link.split('href="')[1].split('"')[0].replace("&amp;", "&")
    page = admin_client.get(url).content.decode()
    assert "x.test/mine" in page and "not-mine" not in page
