"""MoySklad webhooks: delivered by the sandbox to our endpoint, stored once per requestId, the entity re-read."""

import json

import pytest
from django.test import Client

from catalog.models import Product
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.webhooks import process_webhook
from integration.models import InboxMessage
from tests.erp.conftest import raw

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _event(ms, kind, entity_id, action="UPDATE"):
    return {
        "auditContext": {
            "meta": {"type": "audit", "href": f"{ms.url}/api/remap/1.2/audit/1"},
            "uid": "admin@sandbox",
            "moment": "2026-11-28 10:00:00",
        },
        "events": [
            {
                "meta": {"type": kind, "href": f"{ms.url}/api/remap/1.2/entity/{kind}/{entity_id}"},
                "action": action,
                "accountId": "acc",
            }
        ],
    }


def test_webhook_is_stored_once_per_request_id_and_answered_fast(backend, ms):
    client = Client()
    body = json.dumps(_event(ms, "product", "00000000-0000-0000-0000-000000000001"))
    for _ in range(3):  # MoySklad's immediate retries carry the same requestId
        response = client.post(
            "/hooks/moysklad/hook-secret-1/?requestId=req-1", body, content_type="application/json"
        )
        assert response.status_code == 200
    message = InboxMessage.objects.get(source="moysklad")
    assert message.message_id == "req-1" and message.duplicates == 2 and message.backend == backend
    assert (
        client.post("/hooks/moysklad/wrong/?requestId=x", body, content_type="application/json").status_code
        == 404
    )


def test_product_webhook_rereads_the_product_and_archives_it(backend, ms):
    sync_catalog(backend, full=True)
    product = Product.objects.get(article="NYM-3X2.5")
    ms.control(
        "moysklad/product",
        {"id": product.erp_id, "name": "NYM 3x2,5 (снят с производства)", "archived": True},
    )
    client = Client()
    client.post(
        "/hooks/moysklad/hook-secret-1/?requestId=req-2",
        json.dumps(_event(ms, "product", product.erp_id)),
        content_type="application/json",
    )
    process_webhook(InboxMessage.objects.get(message_id="req-2"))
    product.refresh_from_db()
    assert product.name == "NYM 3x2,5 (снят с производства)"
    assert product.active is False and product.archived_at is not None
    assert Product.objects.filter(pk=product.pk).exists()  # archived, never deleted


def test_sandbox_delivers_webhooks_with_retries(backend, ms, live_server):
    url = f"{live_server.url}/hooks/moysklad/hook-secret-1/"
    status, _, hook = raw(
        ms, "POST", "/entity/webhook", body={"url": url, "action": "UPDATE", "entityType": "product"}
    )
    assert status == 200 and hook["url"] == url
    sync_catalog(backend, full=True)
    product = Product.objects.get(article="NYM-3X1.5")
    ms.control("moysklad/product", {"id": product.erp_id, "prices": {"Розничная": "77.00"}})
    drained = ms.control("moysklad/webhooks/drain", {"timeout": 10})
    assert drained["counts"]["delivered"] == 1
    message = InboxMessage.objects.get(source="moysklad")
    assert message.message_id == drained["log"][-1]["requestId"]
    assert json.loads(bytes(message.body))["events"][0]["meta"]["href"].endswith(product.erp_id)
