"""MoySklad webhooks: delivered by the sandbox to our endpoint, stored once per requestId, the entity re-read."""

import json
import socket

import pytest
from django.test import Client

from catalog.models import Product
from integration import inbox
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.webhooks import process_webhook
from integration.models import Backend, InboxMessage, JournalEntry, OutboxEvent
from orders.models import Order
from tests.erp.conftest import raw
from tests.integration_core.rawhttp import send

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


# Input MoySklad would never send, over real HTTP: never a 5xx (MoySklad drops a hook after failed retries),
# malformed bodies and request ids answered 400 with the reason, nothing stored for them.

MS_SECRET = "ms-hook-secret-7"
MS_PATH = f"/hooks/moysklad/{MS_SECRET}/?requestId=req-odd"
JSON = {"Content-Type": "application/json"}
MS_GOOD = json.dumps({"events": [{"meta": {"type": "product", "href": "https://x/entity/product/1"},
                                  "action": "UPDATE", "accountId": "acc"}]}).encode()


@pytest.fixture
def ms_hooks(db):
    return Backend.objects.create(name="ms-hooks", kind=Backend.Kind.MOYSKLAD, base_url="https://ms.example/api",
                                  credentials={"token": "t0ken-ms-123"}, settings={"webhook_secret": MS_SECRET})


MS_MALFORMED = {
    "not utf-8": (MS_PATH, b"\xff\xfe\x00\x01garbage", "body"),
    "nested 10,000 arrays deep": (MS_PATH, b'{"events": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "body"),
    "not JSON": (MS_PATH, b"events=1", "body"),
    "a JSON list": (MS_PATH, b"[1, 2]", "body"),
    "no events": (MS_PATH, b'{"auditContext": {}}', "events"),
    "events not a list of objects": (MS_PATH, b'{"events": [1]}', "events"),
    "an empty body": (MS_PATH, b"", "body"),
    "a NUL in the request id": (f"/hooks/moysklad/{MS_SECRET}/?requestId=a%00b", MS_GOOD, "requestId"),
    "a request id of 300 characters": (f"/hooks/moysklad/{MS_SECRET}/?requestId={'r' * 300}", MS_GOOD, "requestId"),
    "5,000 query parameters": (MS_PATH + "&" + "a=1&" * 5000, MS_GOOD, "query"),
}


@pytest.mark.parametrize("case", MS_MALFORMED)
def test_malformed_moysklad_webhooks_get_400_with_the_reason(ms_hooks, live_server, case):
    target, body, field = MS_MALFORMED[case]
    answer = send(live_server.url, target, body, headers=JSON)
    assert answer.status == 400, (answer.status, answer.body[:300])
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][field], answer.json()
    assert not InboxMessage.objects.exists()
    assert JournalEntry.objects.filter(backend=ms_hooks, status_code=400).exists()
    assert send(live_server.url, MS_PATH, MS_GOOD, headers=JSON).status == 200  # the endpoint still works
    assert InboxMessage.objects.get().message_id == "req-odd"


def test_moysklad_body_over_the_size_limit_gets_400(ms_hooks, live_server):
    body = b'{"events": [], "x": "' + b"a" * 3_000_000 + b'"}'
    answer = send(live_server.url, MS_PATH, body, headers=JSON)
    assert answer.status == 400 and "body" in answer.json()["errors"]
    assert not InboxMessage.objects.exists()


@pytest.mark.parametrize("target,headers", [
    (MS_PATH, {"Content-Type": "text/plain"}),
    (MS_PATH, {"Content-Type": "multipart/form-data; boundary="}),
    (MS_PATH, {"Content-Type": b"application/json\x00\xff"}),
    (MS_PATH, {**JSON, "X-Lognex": b"a\x00b", "X-Other": b"\xff"}),
    (MS_PATH + "&x=%ff%fe&y=%zz", JSON),
    (f"/hooks/moysklad/{MS_SECRET}/", JSON),  # no requestId: deduplicated by the body
])
def test_odd_headers_and_query_strings_are_not_an_error(ms_hooks, live_server, target, headers):
    answer = send(live_server.url, target, MS_GOOD, headers=headers)
    assert answer.status == 200, (answer.status, answer.body[:300])
    assert JournalEntry.objects.filter(backend=ms_hooks, status_code=200).exists()  # journaled all the same
    message = InboxMessage.objects.get()
    assert "\x00" not in message.content_type and "\x00" not in json.dumps(message.headers)


@pytest.mark.parametrize("secret", ["%D0%B6%D0%B6", "%00", "%ff"])
def test_odd_moysklad_secrets_are_404(ms_hooks, live_server, secret):
    assert send(live_server.url, f"/hooks/moysklad/{secret}/", MS_GOOD, headers=JSON).status == 404
    assert not InboxMessage.objects.exists()


# Webhooks are hints, not data: every event is confirmed by reading the entity from MoySklad (the configured
# base URL, whatever host the href names) before anything is applied; a DELETE only once the read answers 404.

def _forged(href_base, *events):
    return json.dumps({"auditContext": {"uid": "intruder@elsewhere"}, "events": [
        {"meta": {"type": kind, "href": f"{href_base}/api/remap/1.2/entity/{kind}/{entity_id}"}, "action": action,
         "accountId": "00000000-0000-0000-0000-00000000dead"}
        for kind, entity_id, action in events
    ]}).encode()


def _deliver(live_server, body, request_id):
    answer = send(live_server.url, f"/hooks/moysklad/hook-secret-1/?requestId={request_id}", body, headers=JSON)
    assert answer.status == 200, answer.body[:300]
    inbox.process_inbox("test-worker")
    return InboxMessage.objects.get(message_id=request_id)


def _state():
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in (Product, Order, OutboxEvent)}


def test_a_forged_delete_of_a_product_that_still_exists_is_ignored(backend, ms, live_server):
    sync_catalog(backend, full=True)
    product = Product.objects.get(article="NYM-3X2.5")
    before = _state()
    message = _deliver(live_server, _forged(ms.url, ("product", product.erp_id, "DELETE")), "forged-delete")
    assert message.status == InboxMessage.Status.PROCESSED, message.error
    assert _state() == before
    product.refresh_from_db()
    assert product.active and product.archived_at is None


def test_a_delete_confirmed_by_404_archives_the_item(backend, ms, live_server):
    sync_catalog(backend, full=True)
    service = Product.objects.filter(kind=Product.Kind.SERVICE, erp_id__isnull=False).first()
    status, _, _ = raw(ms, "DELETE", f"/entity/service/{service.erp_id}")
    assert status == 200
    message = _deliver(live_server, _forged(ms.url, ("service", service.erp_id, "DELETE")), "real-delete")
    assert message.status == InboxMessage.Status.PROCESSED, message.error
    service.refresh_from_db()
    assert service.active is False and service.archived_at is not None


def test_hrefs_to_other_hosts_are_never_fetched(backend, ms, live_server):
    sync_catalog(backend, full=True)
    product = Product.objects.get(article="NYM-3X1.5")
    ms.control("moysklad/product", {"id": product.erp_id, "name": "NYM 3x1,5 (read from our MoySklad)"})
    with socket.socket() as elsewhere:  # another host (or account) an intruder would like us to call
        elsewhere.bind(("127.0.0.1", 0))
        elsewhere.listen(8)
        elsewhere.setblocking(False)
        href_base = f"http://127.0.0.1:{elsewhere.getsockname()[1]}"
        message = _deliver(live_server, _forged(href_base, ("product", product.erp_id, "UPDATE")), "elsewhere")
        with pytest.raises(BlockingIOError):
            elsewhere.accept()  # nobody called it
    assert message.status == InboxMessage.Status.PROCESSED, message.error
    product.refresh_from_db()
    assert product.name == "NYM 3x1,5 (read from our MoySklad)"


UNKNOWN = "0badc0de-0000-4000-8000-000000000001"  # another account's id, or nobody's


def test_deletes_of_entities_we_cannot_read_change_nothing(backend, ms, live_server):
    sync_catalog(backend, full=True)
    before = _state()
    events = [(kind, UNKNOWN, "DELETE") for kind in ("product", "service", "bundle", "customerorder", "demand",
                                                     "paymentin", "counterparty")]
    message = _deliver(live_server, _forged(ms.url, *events), "unknown-deletes")
    assert message.status == InboxMessage.Status.PROCESSED, message.error
    assert _state() == before


def test_changes_of_entities_we_cannot_read_are_rejected_and_change_nothing(backend, ms, live_server):
    sync_catalog(backend, full=True)
    before = _state()
    for kind in ("product", "service", "bundle", "customerorder", "demand", "paymentin"):
        for action in ("CREATE", "UPDATE"):
            message = _deliver(live_server, _forged(ms.url, (kind, UNKNOWN, action)), f"unknown-{kind}-{action}")
            assert message.status == InboxMessage.Status.REJECTED and "404" in message.error, (kind, action)
    assert _state() == before


BAD_IDS = ["..", "%2e%2e", "..%2F..%2Fsecurity%2Ftoken", "1", "x" * 36, "0badc0de-0000-4000-8000-00000000000g"]


def test_an_event_with_a_malformed_id_rejects_the_message_before_anything_is_applied(backend, ms, live_server):
    sync_catalog(backend, full=True)
    product = Product.objects.get(article="NYM-3X1.5")
    ms.control("moysklad/product", {"id": product.erp_id, "name": "changed in MoySklad"})
    before = _state()
    for number, bad_id in enumerate(BAD_IDS):
        body = _forged(ms.url, ("product", product.erp_id, "UPDATE"), ("product", bad_id, "UPDATE"))
        message = _deliver(live_server, body, f"bad-id-{number}")
        assert message.status == InboxMessage.Status.REJECTED, bad_id
        assert "events[1].meta.href" in message.error and "UUID" in message.error, message.error
    assert _state() == before
