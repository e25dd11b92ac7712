"""Benchmark: 50 concurrent cart PUTs (one lead each) for the last 10 units, over HTTP to gunicorn.

Each request goes through the widget token check, the deal's check in amoCRM (the sandbox), the stock guard
(stock rows locked in primary-key order) and the outbox write. The result must be exactly 10 reserved, none
oversold.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

from tests.bench.widget_search import amocrm_backend, gunicorn_server, percentile

REQUESTS = 50
UNITS = 10


def run() -> list[dict]:
    from django.utils import timezone

    from catalog.models import PriceList, Product, StockLevel, Unit, Warehouse
    from integration.amocrm.widget_token import mint_widget_token
    from orders.models import Reservation

    unit = Unit.objects.get_or_create(okei_code="796", defaults={"name": "штука", "short_name": "шт"})[0]
    warehouse = Warehouse.objects.create(name="Race")
    price_list = PriceList.objects.get_or_create(code="race", defaults={"name": "Race", "is_default": True})[0]
    product = Product.objects.create(article="RACE-LAST-10", name="Последние десять", unit=unit)
    product.prices.create(price_list=price_list, amount=Decimal("100"))
    StockLevel.objects.create(product=product, warehouse=warehouse, on_hand=Decimal(UNITS), snapshot_at=timezone.now())
    backend = amocrm_backend()
    crm = _amocrm_sandbox(backend)
    deals = _create_deals(crm, REQUESTS)
    tokens = [mint_widget_token(backend, 500 + n) for n in range(REQUESTS)]
    barrier = threading.Barrier(REQUESTS)
    latencies: list[float] = []
    codes: list[int] = []
    lock = threading.Lock()

    with gunicorn_server(workers=2, threads=8) as url:
        def put(n: int) -> None:
            with requests.Session() as session:
                barrier.wait(timeout=60)
                t0 = time.perf_counter()
                response = session.put(
                    f"{url}/api/widget/v1/leads/{deals[n]}/order",
                    json={"lines": [{"product": product.pk, "quantity": "1", "warehouse": warehouse.pk}]},
                    headers={"X-Auth-Token": tokens[n]}, timeout=120,
                )
                elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)
                codes.append(response.status_code)

        try:
            with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
                list(pool.map(put, range(REQUESTS)))
        finally:
            crm.stop()

    held = Reservation.objects.filter(product=product, status__in=["pending", "confirmed"])
    reserved = sum((r.quantity for r in held), Decimal("0"))
    return [{
        "bench": "reserve_race", "requests": REQUESTS, "units": UNITS, "reserved": int(reserved),
        "oversold": int(max(reserved - UNITS, 0)), "accepted": codes.count(200), "refused_409": codes.count(409),
        "other": len(codes) - codes.count(200) - codes.count(409),
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
    }]


def _amocrm_sandbox(backend):
    """The account the deals live in: the amoCRM sandbox, connected, its pace lifted (not what is measured)."""
    from integration.amocrm.tokens import exchange_code
    from integration.sandbox.process import start_sandbox

    creds = backend.credentials
    sandbox = start_sandbox("amocrm", options={
        "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "redirect_uri": creds["redirect_uri"], "account_id": backend.settings["account_id"], "rate_limit": 1000})
    backend.base_url = sandbox.url
    backend.settings.update(rate_limit=1000, rate_period=1.0)
    backend.save()
    exchange_code(backend, sandbox.control("amocrm/oauth/code", {})["code"])
    return sandbox


def _create_deals(sandbox, count: int) -> list[int]:
    answer = sandbox.control("amocrm/as_manager", {"method": "POST", "path": "/api/v4/leads",
                                                   "body": [{"name": f"Гонка {n}"} for n in range(count)]})
    return [lead["id"] for lead in answer["body"]["_embedded"]["leads"]]
