"""Push 10,000 products to the amoCRM sandbox (7 requests/s and ≤ 250 items a request enforced by it).

floor = ⌈elements / 250⌉ / 7 s; aim (issue 18): ratio ≤ 1.10 and no 429. `cpu_seconds` is the push's own CPU (this
process) and `load` the 1-minute load average when it ended: on a shared machine the ratio follows the load, the
CPU much less.
"""

from __future__ import annotations

import math
import os
import time
from decimal import Decimal

from django.utils import timezone

from catalog.models import Price, PriceList, Product, StockLevel, Unit, Warehouse
from integration.amocrm.catalog_push import prepare_catalog, push_catalog
from integration.amocrm.tokens import exchange_code
from integration.models import Backend
from integration.sandbox.process import start_sandbox

ELEMENTS = 10_000
BATCH = 250
RATE = 7
CLIENT = {"client_id": "bench-client", "client_secret": "bench-client-secret-0123456789abcdef",
          "redirect_uri": "https://erp.example.com/hooks/amocrm/oauth/"}


def _assortment(count: int) -> list[int]:
    unit, _ = Unit.objects.get_or_create(okei_code="796", defaults={"name": "штука", "short_name": "шт"})
    retail, _ = PriceList.objects.get_or_create(code="bench-retail", defaults={"name": "Бенч розница", "is_default": True})
    wholesale, _ = PriceList.objects.get_or_create(code="bench-wholesale", defaults={"name": "Бенч опт"})
    store, _ = Warehouse.objects.get_or_create(name="Бенч склад", defaults={"code": "BENCH"})
    products = Product.objects.bulk_create(
        [Product(article=f"AMOBENCH-{i:05d}", name=f"Товар для замера {i}", unit=unit, erp_id=f"amobench-{i}")
         for i in range(count)], batch_size=2000)
    Price.objects.bulk_create(
        [Price(product=p, price_list=pl, amount=Decimal(100 + i % 900) * factor)
         for i, p in enumerate(products) for pl, factor in ((retail, 1), (wholesale, Decimal("0.9")))],
        batch_size=5000)
    now = timezone.now()
    StockLevel.objects.bulk_create(
        [StockLevel(product=p, warehouse=store, on_hand=Decimal(i % 50), snapshot_at=now)
         for i, p in enumerate(products)], batch_size=5000)
    return [p.pk for p in products]


def run() -> list[dict]:
    sandbox = start_sandbox("amocrm", options={**CLIENT, "rate_limit": RATE, "webhook_autodeliver": False})
    try:
        backend = Backend.objects.create(
            name="bench-amocrm", kind=Backend.Kind.AMOCRM, base_url=sandbox.url, credentials=dict(CLIENT),
            settings={"account_id": 30441694, "subdomain": "demo", "catalog_batch_size": BATCH})
        exchange_code(backend, sandbox.control("amocrm/oauth/code", {})["code"])
        # Only our products: other scenarios may share the database.
        backend.settings.update(catalog_scope="chosen", catalog_products=_assortment(ELEMENTS))
        backend.save()
        prepare_catalog(backend)  # account setup (catalog id, our element fields), done once per account
        setup_requests = sandbox.control("stats", method="GET")["counters"].get("api_requests", 0)
        started, cpu = time.perf_counter(), time.process_time()
        sync = push_catalog(backend)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        stats = sandbox.control("stats", method="GET")
        floor = math.ceil(ELEMENTS / BATCH) / RATE
        return [{
            "bench": "amocrm_catalog_push", "elements": stats["elements"], "seconds": round(seconds, 3),
            "floor_seconds": round(floor, 3), "ratio": round(seconds / floor, 3),
            "http_429": int(stats["statuses"].get("429", 0)), "requests": stats["counters"].get("api_requests", 0) - setup_requests,
            "created": sync.created, "failed": sync.failed,
            "cpu_seconds": round(cpu, 3), "load": round(os.getloadavg()[0], 2),
        }]
    finally:
        sandbox.stop()
