"""Webhooks as the ERP sends them on a bad day, for the multi-process test: MoySklad's retries of one change
(the same requestId again) and changes arriving out of order, posted to several web servers while the ERP
is down. The platform stores each change once and, re-reading every entity when the ERP is back, ends with
what the ERP has, whatever the order the webhooks came in."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from tests.production.scaleout import Workers, wait_until

SECRET = "storm-hook-secret"  # noqa: S105 - the webhook path secret of the test backend
API = "/api/remap/1.2"


@dataclass
class Storm:
    posted: int  # webhooks posted (retries included)
    distinct: int  # distinct requestIds
    codes: dict[int, int]  # the web servers' answers
    products: dict[str, str]  # erp_id → the name the ERP ends with


def moysklad_backend(ms):
    from integration.models import Backend

    return Backend.objects.create(name="storm-ms", kind=Backend.Kind.MOYSKLAD, base_url=ms.url + API,
                                  credentials={"token": "sandbox-token"},
                                  settings={"webhook_secret": SECRET, "backoff_seconds": 0.05, "read_attempts": 1})


def _body(ms, erp_id: str) -> str:
    return json.dumps({
        "auditContext": {"meta": {"type": "audit", "href": f"{ms.url}{API}/audit/1"}, "uid": "admin@sandbox",
                         "moment": "2026-12-02 10:00:00"},
        "events": [{"meta": {"type": "product", "href": f"{ms.url}{API}/entity/product/{erp_id}"},
                    "action": "UPDATE", "accountId": "acc"}]})


def moysklad_storm(urls: list[str], ms, env: dict[str, str], *, products: int = 100, retries: int = 50,
                   down_seconds: float = 20.0, timeout: float = 180.0) -> Storm:
    """`products` products renamed twice in the ERP, one webhook per rename (2 × products requestIds), `retries`
    of them sent again, all shuffled, posted to the web servers in turn while the ERP answers 503 for
    `down_seconds`; two inbox workers process them. Returns once nothing is left to process."""
    from catalog.models import Product
    from integration.models import InboxMessage

    goods = Product.objects.filter(kind=Product.Kind.GOODS, erp_id__gt="").order_by("article")
    chosen = list(goods.values_list("erp_id", "name")[:products])
    assert len(chosen) == products, f"the ERP sandbox has {len(chosen)} goods synced, {products} wanted"
    hooks = []
    for n, (erp_id, name) in enumerate(chosen):
        for version in (1, 2):
            ms.control("moysklad/product", {"id": erp_id, "name": f"{name} · v{version}"})
            hooks.append((f"storm-{n}-{version}", _body(ms, erp_id)))
    rng = random.Random(17)
    hooks += rng.sample(hooks, retries)
    rng.shuffle(hooks)  # v2 before v1, a retry before its first delivery

    def post(item: tuple[int, tuple[str, str]]) -> int:
        n, (request_id, body) = item
        return requests.post(f"{urls[n % len(urls)]}/hooks/moysklad/{SECRET}/?requestId={request_id}", data=body,
                             headers={"Content-Type": "application/json"}, timeout=30).status_code

    workers = Workers(env, queues="inbox")
    ms.control("faults", {"down": True})  # the ERP answers 503 to everything but its control endpoints
    try:
        for n in range(2):
            workers.start(f"storm-{n}")
        down_since = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(post, enumerate(hooks)))
        time.sleep(max(0.0, down_seconds - (time.monotonic() - down_since)))
        ms.control("faults", {"down": False})
        open_statuses = [InboxMessage.Status.RECEIVED, InboxMessage.Status.FAILED, InboxMessage.Status.PROCESSING]
        wait_until(lambda: not InboxMessage.objects.filter(source="moysklad", status__in=open_statuses).exists(),
                   timeout, 0.5)
    finally:
        ms.control("faults", {"down": False})
        workers.stop()
    names = {row["id"]: row["name"] for row in ms.control("moysklad/entities/product", method="GET")}
    return Storm(posted=len(hooks), distinct=2 * len(chosen), codes={c: codes.count(c) for c in set(codes)},
                 products={erp_id: names[erp_id] for erp_id, _name in chosen})


def amocrm_storm(urls: list[str], backend, env: dict[str, str], *, leads: list[int], per_lead: int = 4,
                 retries: int = 50, timeout: float = 180.0) -> tuple[Storm, list[str]]:
    """`per_lead` distinct update webhooks for each lead (one per second of `updated_at`, the newest first in the
    list), `retries` of them sent again, all shuffled, posted to the web servers in turn while two workers
    deliver the outbox (the orders' lead syncs) and process the inbox. Returns the storm and the message ids
    its distinct webhooks must be stored under."""
    from django.urls import reverse

    from integration.amocrm.webhooks import dedup_key, parse_bracket_body, webhook_events
    from integration.models import InboxMessage, OutboxEvent

    path = reverse("amocrm:webhook", args=[backend.webhook_secret])
    now = int(time.time())
    hooks = [urlencode({"leads[update][0][id]": lead, "leads[update][0][updated_at]": now - n,
                        "account[id]": backend.settings["account_id"], "account[subdomain]": "bench"})
             for lead in leads for n in range(per_lead)]
    keys = [dedup_key(webhook_events(parse_bracket_body(body.encode())), body.encode()) for body in hooks]
    rng = random.Random(18)
    posted = hooks + rng.sample(hooks, retries)
    rng.shuffle(posted)

    def post(item: tuple[int, str]) -> int:
        n, body = item
        return requests.post(urls[n % len(urls)] + path, data=body, timeout=30,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code

    workers = Workers(env, queues="outbox,inbox")
    try:
        for n in range(2):
            workers.start(f"amo-storm-{n}")
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(post, enumerate(posted)))
        inbox_open = [InboxMessage.Status.RECEIVED, InboxMessage.Status.FAILED, InboxMessage.Status.PROCESSING]
        outbox_open = [OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT]
        wait_until(lambda: not InboxMessage.objects.filter(status__in=inbox_open).exists()
                   and not OutboxEvent.objects.filter(status__in=outbox_open).exists(), timeout, 0.5)
    finally:
        workers.stop()
    return Storm(posted=len(posted), distinct=len(hooks), codes={c: codes.count(c) for c in set(codes)},
                 products={}), keys
