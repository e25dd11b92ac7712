"""Benchmark: the widget's product search under gunicorn on PostgreSQL, 100,000 products, 8 client threads.

Every request carries a fresh amoCRM widget token (tokens are single use), so the jti replay cache and
the token check are part of what is measured. The queries mix name words, article fragments, exact
barcodes and a lead (segment prices); stock snapshots are fresh, so no ERP refresh is attempted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import requests

PRODUCTS = int(os.environ.get("BENCH_WIDGET_PRODUCTS", "100000"))
CLIENTS = 8
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_WIDGET_REQUESTS", "150"))
ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("bench.widget_search")

WORDS = ["Дрель", "Перфоратор", "Шуруповёрт", "Болгарка", "Лобзик", "Пила", "Рубанок", "Фрезер", "Гайковёрт",
         "Краскопульт", "Степлер", "Миксер", "Штроборез", "Реноватор", "Отвёртка", "Фен"]
KINDS = ["аккумуляторная", "сетевая", "ударная", "бесщёточная", "компактная", "профессиональная"]
BRANDS = ["Зубр", "Интерскол", "Калибр", "Вихрь", "Ресанта", "Диолд", "Энкор", "Союз"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@contextlib.contextmanager
def gunicorn_server(*, workers: int = 2, threads: int = 4, extra_env: dict | None = None) -> Iterator[str]:
    workers = int(os.environ.get("BENCH_GUNICORN_WORKERS", workers))
    threads = int(os.environ.get("BENCH_GUNICORN_THREADS", threads))
    """gunicorn serving config.wsgi on a socket we bound to port 0 (handed over as fd://)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DEBUG": "0",
           "SECRET_KEY": "bench-secret-key-not-for-production", "AMOERP_STOCK_MAX_AGE_SECONDS": "3600",
           "LOG_LEVEL": "ERROR", **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"fd://{sock.fileno()}",
         "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
         "--log-level", "warning", "--backlog", "256"],
        cwd=ROOT, env=env, pass_fds=[sock.fileno()],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/api/widget/v1/products", timeout=15)  # 401: up and routing
                break
            except (requests.ConnectionError, requests.Timeout):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sock.close()


def amocrm_backend():
    from integration.models import Backend

    return Backend.objects.get_or_create(
        name="bench-amo",
        defaults={"kind": Backend.Kind.AMOCRM, "base_url": "https://bench.amocrm.ru",
                  "credentials": {"client_id": "bench-client", "client_secret": "bench-client-secret-0123456789abcdef",
                                  "redirect_uri": "https://erp.example.com/hooks/amocrm/oauth/"},
                  "settings": {"account_id": 424242, "subdomain": "bench", "approvers": [1]}},
    )[0]


def _seed(count: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from catalog.models import Barcode, Price, PriceList, Product, Segment, StockLevel, Unit, Warehouse
    from counterparties.models import Counterparty
    from orders.models import Order

    rng = random.Random(20261128)
    unit = Unit.objects.create(okei_code="796", name="штука", short_name="шт")
    warehouses = [Warehouse.objects.create(name=name) for name in ("Москва", "Санкт-Петербург", "Казань")]
    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    wholesale = PriceList.objects.create(name="Опт", code="wholesale")
    segment = Segment.objects.create(name="Оптовики", code="opt", price_list=wholesale)
    client = Counterparty.objects.create(name="ООО Бенч", inn="7707083893", kpp="770701001", segment=segment)
    Order.objects.create(lead_id=1, counterparty=client)
    batch = 10000
    now = timezone.now()
    for start in range(0, count, batch):
        rows = [
            Product(article=f"ART-{n:06d}", unit=unit,
                    name=f"{rng.choice(WORDS)} {rng.choice(KINDS)} {rng.choice(BRANDS)} {rng.randint(100, 999)}")
            for n in range(start, min(count, start + batch))
        ]
        Product.objects.bulk_create(rows, batch_size=batch)
        ids = [p.pk for p in rows]
        Price.objects.bulk_create(
            [Price(product_id=pid, price_list=retail, amount=Decimal(rng.randint(500, 50000))) for pid in ids]
            + [Price(product_id=pid, price_list=wholesale, amount=Decimal(rng.randint(400, 45000))) for pid in ids],
            batch_size=batch,
        )
        Barcode.objects.bulk_create(
            [Barcode(product_id=pid, value=f"460{pid:010d}") for pid in ids], batch_size=batch
        )
        StockLevel.objects.bulk_create(
            [StockLevel(product_id=pid, warehouse=w, on_hand=Decimal(rng.randint(0, 200)), snapshot_at=now)
             for pid in ids for w in warehouses[: rng.randint(1, 3)]],
            batch_size=batch,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"barcodes": [f"460{pid:010d}" for pid in rng.sample(list(Product.objects.values_list("pk", flat=True)), 200)]}


def _queries(seed: dict, rng: random.Random) -> list[dict]:
    out = []
    for _ in range(CLIENTS * REQUESTS_PER_CLIENT):
        kind = rng.random()
        if kind < 0.35:
            params = {"q": f"{rng.choice(WORDS)[:5].lower()}"}
        elif kind < 0.55:
            params = {"q": f"{rng.choice(WORDS)} {rng.choice(KINDS)}"}
        elif kind < 0.8:
            params = {"q": f"ART-{rng.randint(0, PRODUCTS - 1):06d}"[: rng.choice([8, 10])]}
        else:
            params = {"q": rng.choice(seed["barcodes"])}
        if rng.random() < 0.5:
            params["lead_id"] = 1
        out.append(params)
    return out


def _queries_per_request(sample: list[dict], tokens: list[str]) -> tuple[float, float]:
    """Mean database queries per request, in-process through the same view: the whole request (token check, jti,
    deal check, search) and the search's own, from its page query on."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from integration.widget import search

    client, marks, real = Client(), [], search.read_page

    def marked(**kwargs):
        marks.append(len(connection.queries_log))
        return real(**kwargs)

    total = own = 0
    search.read_page = marked
    saved = settings.AMOERP
    settings.AMOERP = {**saved, "STOCK_MAX_AGE_SECONDS": 3600}  # as the served bench: the seeded stock is fresh
    try:
        for params in sample:
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/api/widget/v1/products", params, HTTP_X_AUTH_TOKEN=tokens.pop(),
                                      SERVER_NAME="localhost")
                end = len(connection.queries_log)
            assert response.status_code == 200, response.content[:300]
            total += len(queries)
            own += end - marks.pop()
    finally:
        search.read_page = real
        settings.AMOERP = saved
    return round(total / len(sample), 2), round(own / len(sample), 2)


def run() -> list[dict]:
    from integration.amocrm.widget_token import mint_widget_token

    started = time.monotonic()
    seed = _seed(PRODUCTS)
    log.info("seeded %d products in %.1f s", PRODUCTS, time.monotonic() - started)
    backend = amocrm_backend()
    from integration.bindings import bind
    from orders.models import Order

    bind(backend, Order.objects.get(lead_id=1), "1")  # the deal is known in the account: no amoCRM call
    rng = random.Random(7)
    queries = _queries(seed, rng)
    tokens = [mint_widget_token(backend, 1000 + i % 50) for i in range(len(queries) + CLIENTS * 5 + 100)]
    per_request, per_search = _queries_per_request(queries[:100], tokens)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    with gunicorn_server() as url:
        def client(index: int, warmup: bool) -> None:
            session = requests.Session()
            mine = queries[index::CLIENTS] if not warmup else queries[:5]
            for n, params in enumerate(mine):
                token = tokens.pop()
                t0 = time.perf_counter()
                response = session.get(f"{url}/api/widget/v1/products", params=params,
                                       headers={"X-Auth-Token": token}, timeout=30)
                elapsed = (time.perf_counter() - t0) * 1000
                if warmup:
                    continue
                with lock:
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {params}")
                    else:
                        latencies.append(elapsed)
                if n == 0 and not response.json()["results"] and "ART" in params.get("q", ""):
                    errors.append(f"no results for {params}")
            session.close()

        for phase_warmup in (True, False):
            threads = [threading.Thread(target=client, args=(i, phase_warmup)) for i in range(CLIENTS)]
            t0 = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - t0
    return [{
        "bench": "widget_search", "products": PRODUCTS, "clients": CLIENTS, "requests": len(latencies),
        "errors": len(errors), "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 95), 1), "rps": round(len(latencies) / elapsed, 1),
        "queries_per_request": per_request, "search_queries_per_request": per_search,
        **({"first_errors": errors[:3]} if errors else {}),
    }]
