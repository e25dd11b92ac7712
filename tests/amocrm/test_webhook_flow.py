"""End to end over real HTTP: the sandbox delivers form-encoded webhooks to our endpoint (a live server)."""

import pytest
from django.urls import reverse

from integration import inbox
from integration.amocrm.catalog_push import push_catalog
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.setup import prepare_account
from integration.amocrm.webhooks import dedup_key, parse_bracket_body, webhook_events
from integration.models import Binding, InboxMessage
from orders.models import Order
from tests.amocrm.conftest import as_manager, connect_backend, make_shop
from tests.amocrm.test_deals import GOOD_INN, GOOD_KPP

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deliveries(sandbox) -> list[dict]:
    sandbox.control("amocrm/webhooks/flush", {"wait_seconds": 5})
    return sandbox.control("amocrm/webhooks/deliveries", method="GET")["deliveries"]


def test_webhooks_are_stored_deduplicated_and_applied_in_any_order(sandbox, live_server):
    shop = make_shop()
    sandbox.control("amocrm/settings", {"rate_limit": 1000})
    backend = connect_backend(sandbox, rate_limit=1000, rate_period=1.0, webhook_secret="s3cret-path")
    prepare_account(backend, public_url=live_server.url)
    push_catalog(backend)
    element = {b.object_id: int(b.external_id) for b in Binding.objects.filter(backend=backend)}
    catalog_id = AmoCrmClient(backend).products_catalog_id()

    company_id = as_manager(sandbox, "POST", "/api/v4/companies", [{"name": "ООО «Вебхук»", "custom_fields_values": [
        {"field_code": "INN", "values": [{"value": GOOD_INN}]},
        {"field_code": "KPP", "values": [{"value": GOOD_KPP}]}]}])["_embedded"]["companies"][0]["id"]
    lead_id = as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "Заявка с сайта", "_embedded": {
        "companies": [{"id": company_id}]}}])["_embedded"]["leads"][0]["id"]

    def link(quantity):
        as_manager(sandbox, "POST", f"/api/v4/leads/{lead_id}/link", [{
            "to_entity_id": element[shop.cable.pk], "to_entity_type": "catalog_elements",
            "metadata": {"quantity": quantity, "catalog_id": catalog_id}}])

    link(2)
    delivered = deliveries(sandbox)
    assert delivered and all(d["attempts"][-1]["status"] == 200 for d in delivered)
    assert all(d["destination"].endswith(reverse("amocrm:webhook", args=["s3cret-path"])) for d in delivered)
    stored = InboxMessage.objects.filter(source="amocrm")
    assert stored.count() == len(delivered)  # add_company, add_lead, update_lead (the link)

    # A retry of the same delivery is recognised and not stored twice.
    sandbox.control("amocrm/webhooks/replay", {"ids": [delivered[-1]["id"]]})
    assert InboxMessage.objects.filter(source="amocrm").count() == len(delivered)
    body = delivered[-1]["body"].encode()
    key = dedup_key(webhook_events(parse_bracket_body(body)), body)
    assert InboxMessage.objects.get(source="amocrm", message_id=key).duplicates == 1

    inbox.process_inbox(source="amocrm")
    order = Order.objects.get(lead_id=lead_id)
    assert [(line.product_id, line.base_quantity) for line in order.lines.all()] == [(shop.cable.pk, 2)]
    assert order.counterparty.inn == GOOD_INN

    # A newer change, then an old webhook arriving late: the order follows amoCRM's current state only.
    link(4)
    newer = [d for d in deliveries(sandbox) if d["id"] > delivered[-1]["id"]]
    assert newer
    inbox.process_inbox(source="amocrm")
    assert order.lines.get().base_quantity == 4
    old_body = [d for d in delivered if "update" in d["body"]][-1]
    message, created = inbox.store_webhook(source="amocrm", backend=backend, message_id="late-replay",
                                           body=old_body["body"].encode(), content_type="application/x-www-form-urlencoded",
                                           headers={})
    assert created
    version = Order.objects.get(pk=order.pk).version
    inbox.process_inbox(source="amocrm")
    message.refresh_from_db()
    assert message.status == InboxMessage.Status.PROCESSED
    assert Order.objects.get(pk=order.pk).version == version  # skipped: not newer than what was applied


def test_unknown_secret_is_404_and_nothing_is_stored(client, db):
    response = client.post("/hooks/amocrm/nope/", data="leads[add][0][id]=1",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 404
    assert not InboxMessage.objects.exists()


def test_the_url_secret_never_reaches_the_journal(client, db):
    from integration.models import Backend, JournalEntry

    backend = Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url="https://demo.amocrm.ru",
                                     settings={"webhook_secret": "very-secret-path-123"})
    response = client.post("/hooks/amocrm/very-secret-path-123/", data="leads[add][0][id]=1",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    [entry] = JournalEntry.objects.filter(backend=backend)
    assert "very-secret-path-123" not in entry.url and InboxMessage.objects.count() == 1
