"""`manage.py moysklad_setup` and the admin action: every webhook we use subscribed once, stale ones replaced,
the sandbox delivering entity and stock webhooks as MoySklad does."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from integration.erp.moysklad.setup import ENTITY_WEBHOOKS
from integration.models import Backend, InboxMessage
from integration.staff.groups import ADMIN_GROUP, OPERATOR_GROUP
from tests.erp.conftest import raw

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
PUBLIC = "https://amoerp.example.com"
OURS = f"{PUBLIC}/hooks/moysklad/hook-secret-1/"


def hooks(ms, kind="webhook"):
    status, _, body = raw(ms, "GET", f"/entity/{kind}")
    assert status == 200
    return body["rows"]


def setup(*args):
    out = StringIO()
    call_command("moysklad_setup", "moysklad", "--public-url", PUBLIC, *args, stdout=out)
    return out.getvalue()


def test_setup_subscribes_every_webhook_once_and_shows_them(backend, ms):
    output = setup()
    entity = hooks(ms)
    assert {(h["entityType"], h["action"]) for h in entity} == set(ENTITY_WEBHOOKS)
    assert {h["url"] for h in entity} == {OURS} and all(h["enabled"] for h in entity)
    assert {"customerorder", "invoiceout", "demand", "paymentin", "salesreturn", "bundle", "product"} <= {
        h["entityType"] for h in entity
    }
    stock = hooks(ms, "webhookstock")
    assert [(h["url"], h["stockType"], h["reportType"]) for h in stock] == [(OURS, "stock", "bystore")]
    assert f"created: {len(ENTITY_WEBHOOKS) + 1}" in output
    assert "hook-secret-1" not in output  # the secret in the path is masked
    assert "salesreturn UPDATE" in output and "stock bystore" in output

    again = setup()
    assert "created: 0" in again and "updated: 0" in again and "removed: 0" in again
    assert sorted(h["id"] for h in hooks(ms)) == sorted(h["id"] for h in entity)
    assert [h["id"] for h in hooks(ms, "webhookstock")] == [h["id"] for h in stock]


def test_stale_and_disabled_subscriptions_are_replaced_and_foreign_ones_kept(backend, ms):
    old = f"{PUBLIC}/hooks/moysklad/old-secret/"
    foreign = "https://other-app.example.net/moysklad"
    for url in (old, foreign):
        raw(ms, "POST", "/entity/webhook", body={"url": url, "action": "UPDATE", "entityType": "product"})
    raw(ms, "POST", "/entity/webhook", body={"url": old, "action": "UPDATE", "entityType": "customerorder"})
    raw(ms, "POST", "/entity/webhook", body={"url": OURS, "action": "CREATE", "entityType": "demand",
                                             "enabled": False})
    raw(ms, "POST", "/entity/webhook", body={"url": old, "action": "DELETE", "entityType": "customerorder"})
    raw(ms, "POST", "/entity/webhookstock", body={"url": old, "stockType": "stock", "reportType": "bystore"})

    output = setup()

    entity = hooks(ms)
    assert not [h for h in entity if h["url"] == old]  # moved to the current secret or removed
    assert [h for h in entity if h["url"] == foreign]  # not ours: left alone
    ours = [h for h in entity if h["url"] == OURS]
    assert sorted((h["entityType"], h["action"]) for h in ours) == sorted(ENTITY_WEBHOOKS)
    assert all(h["enabled"] for h in ours)
    assert [h["url"] for h in hooks(ms, "webhookstock")] == [OURS]
    assert "removed: 1 (customerorder DELETE)" in output
    assert "updated: 4" in output  # product UPDATE, customerorder UPDATE, demand CREATE (re-enabled), stock
    again = setup()
    assert "created: 0" in again and "updated: 0" in again and "removed: 0" in again


def test_setup_refuses_an_unknown_backend_and_lists_without_changes(backend, ms):
    with pytest.raises(Exception, match="no MoySklad backend named 'nope'"):
        call_command("moysklad_setup", "nope")
    assert "subscribed (0)" in setup("--list") and hooks(ms) == []


def test_sandbox_delivers_entity_and_stock_webhooks_to_the_subscribed_url(backend, ms, live_server):
    call_command("moysklad_setup", "moysklad", "--public-url", live_server.url, stdout=StringIO())
    product = next(p for p in ms.control("moysklad/entities/product", method="GET") if p.get("article"))
    ms.control("moysklad/product", {"id": product["id"], "name": "Переименован"})
    ms.control("moysklad/stock", {"id": product["id"], "delta": 3})
    assert ms.control("moysklad/webhooks/stock", {})["sent"] == 1
    assert ms.control("moysklad/webhooks/stock", {})["sent"] == 0  # nothing changed since the announcement
    drained = ms.control("moysklad/webhooks/drain", {"timeout": 10})
    assert drained["counts"]["delivered"] == 2
    bodies = [json.loads(bytes(m.body)) for m in InboxMessage.objects.filter(source="moysklad").order_by("pk")]
    assert bodies[0]["events"][0]["meta"]["href"].endswith(product["id"])
    assert bodies[1]["stockType"] == "stock" and "/report/stock/bystore/current?changedSince=" in bodies[1]["reportUrl"]


def test_stock_and_counterparty_webhooks_are_applied(backend, ms, live_server):
    """The subscribed webhooks do their work when the worker processes them: a stock announcement refreshes the
    changed stock (through our own report request, never the announced URL), a counterparty change is imported."""
    from catalog.models import StockLevel
    from counterparties.models import Counterparty
    from integration import inbox
    from integration.erp.moysklad.catalog_sync import sync_catalog
    from integration.erp.moysklad.stock_sync import sync_stock
    from integration.syncs import run_sync

    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    run_sync("counterparties", backend, full=True)
    call_command("moysklad_setup", "moysklad", "--public-url", live_server.url, stdout=StringIO())
    product = next(p for p in ms.control("moysklad/entities/product", method="GET") if p.get("article"))
    before = sum(s.on_hand for s in StockLevel.objects.filter(product__erp_id=product["id"]))
    ms.control("moysklad/stock", {"id": product["id"], "delta": 3})
    assert ms.control("moysklad/webhooks/stock", {})["sent"] == 1
    erp = next(c for c in ms.control("moysklad/entities/counterparty", method="GET") if c.get("inn"))
    raw(ms, "PUT", f"/entity/counterparty/{erp['id']}", body={"legalTitle": "ООО «Переименовано»"})
    assert ms.control("moysklad/webhooks/drain", {"timeout": 10})["counts"]["delivered"] >= 2

    while sum(inbox.process_inbox("test").values()):
        pass

    assert not InboxMessage.objects.exclude(status=InboxMessage.Status.PROCESSED).exists()
    after = sum(s.on_hand for s in StockLevel.objects.filter(product__erp_id=product["id"]))
    assert after == before + 3
    assert Counterparty.objects.get(erp_id=erp["id"]).full_name == "ООО «Переименовано»"


def test_a_stock_announcement_without_a_date_is_refused(backend, live_server):
    from tests.integration_core.rawhttp import send

    answer = send(live_server.url, "/hooks/moysklad/hook-secret-1/?requestId=s-1",
                  json.dumps({"stockType": "stock", "reportUrl": "https://x/report/stock/all/current"}).encode(),
                  headers={"Content-Type": "application/json"})
    assert answer.status == 400 and answer.json()["errors"]["reportUrl"]
    assert not InboxMessage.objects.exists()


def _staff(username, group):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw-12345", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def test_admin_action_subscribes_for_integration_admins_only(backend, ms, settings):
    settings.AMOERP = {**settings.AMOERP, "PUBLIC_URL": PUBLIC}
    url = "/admin/integration/backend/"
    data = {"action": "subscribe_erp_webhooks", "_selected_action": [backend.pk]}

    operator = _staff("operator1", OPERATOR_GROUP)
    operator.post(url, data)
    assert hooks(ms) == []  # the action is not offered to operators

    admin = _staff("admin1", ADMIN_GROUP)
    response = admin.post(url, data, follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    assert f"created {len(ENTITY_WEBHOOKS) + 1}" in text and "stock bystore" in text
    assert "hook-secret-1" not in text
    assert len(hooks(ms)) == len(ENTITY_WEBHOOKS)
    assert Backend.objects.get(pk=backend.pk).webhook_secret == "hook-secret-1"
