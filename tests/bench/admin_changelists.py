"""Benchmark: the admin on big tables — 100k products, 1M journal entries, 200k outbox events, 50k orders.

The tables are filled in SQL (INSERT … SELECT generate_series, then VACUUM ANALYZE, as a live database is),
then each page staff use daily — the changelist, its search, its most used filters and date drill-down, and the
dashboard — is requested by a logged-in superuser through the Django test client (the whole admin stack, no
network), once to warm up and then BENCH_ADMIN_REQUESTS times; the line gives each page's p95 in ms, and the
dashboard's once more with its caches emptied before each request (`dashboard_cold_cache_p95_ms`).
BENCH_ADMIN_SCALE (e.g. 0.1) shrinks every table for quick iterations.
"""

from __future__ import annotations

import logging
import os
import time

SCALE = float(os.environ.get("BENCH_ADMIN_SCALE", "1"))
PRODUCTS = int(100_000 * SCALE)
JOURNAL = int(1_000_000 * SCALE)
OUTBOX = int(200_000 * SCALE)
ORDERS = int(50_000 * SCALE)
COUNTERPARTIES = max(100, ORDERS // 10)
REQUESTS = int(os.environ.get("BENCH_ADMIN_REQUESTS", "20"))
AIM_MS = 300
log = logging.getLogger("bench.admin_changelists")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def seed() -> dict:
    """Fill the tables; returns the ids the pages filter on."""
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from catalog.models import Category, Product, Unit
    from integration.models import Backend

    unit = Unit.objects.create(okei_code="796", name="штука", short_name="шт")
    categories = Category.objects.bulk_create(Category(name=f"Категория {n}") for n in range(50))
    erp = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="https://api.moysklad.ru/api/remap/1.2")
    crm = Backend.objects.create(name="amocrm", kind=Backend.Kind.AMOCRM, base_url="https://demo.amocrm.ru")
    product_type = ContentType.objects.get_for_model(Product)
    user = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "bench-pass-123")
    words = "ARRAY['Дрель','Перфоратор','Шуруповёрт','Болгарка','Лобзик','Пила','Рубанок','Фрезер','Гайковёрт','Степлер']"
    statements = [
        (f"""INSERT INTO catalog_product (erp_id, article, name, description, category_id, unit_id, kind, vat_rate,
                 tracking, active, created_at, updated_at)
             SELECT md5(i::text), 'ART-' || lpad(i::text, 6, '0'), ({words})[1 + i % 10] || ' модель ' || i, '',
                 {categories[0].pk} + i % 50, {unit.pk}, CASE WHEN i % 20 = 0 THEN 'service' ELSE 'goods' END, '22',
                 'none', i % 10 <> 0, now() - i * interval '1 minute', now()
             FROM generate_series(1, {PRODUCTS}) i""", "products"),
        ("""INSERT INTO catalog_barcode (product_id, value, kind, active)
            SELECT id, '46' || lpad(id::text, 11, '0'), 'ean13', true FROM catalog_product""", "barcodes"),
        (f"""INSERT INTO counterparties_counterparty (kind, name, full_name, inn, kpp, ogrn, legal_address,
                 actual_address, created_at, updated_at)
             SELECT 'legal', 'ООО «Клиент ' || i || '»', '', (7700000000 + i)::text, '', '', '', '', now(), now()
             FROM generate_series(1, {COUNTERPARTIES}) i""", "counterparties"),
        (f"""INSERT INTO orders_order (uuid, lead_id, counterparty_id, currency, status, payment_status, erp_id,
                 erp_number, erp_state, delivery_address, comment, total, vat_total, version, erp_pending_reason,
                 created_at, updated_at)
             SELECT gen_random_uuid(), 1000000 + i, (SELECT min(id) FROM counterparties_counterparty) + i % {COUNTERPARTIES},
                 'RUB', (ARRAY['draft','reserved','shipped','closed','cancelled','awaiting_approval'])[1 + i % 6],
                 (ARRAY['unpaid','paid','partially_paid'])[1 + i % 3], md5('o' || i),
                 'ЗК-' || lpad(i::text, 6, '0'), '', '', '', 1000 + i % 5000, 180, 1, '',
                 now() - (i % 365) * interval '1 day' - (i % 1440) * interval '1 minute', now()
             FROM generate_series(1, {ORDERS}) i""", "orders"),
        (f"""INSERT INTO integration_outboxevent (backend_id, topic, aggregate_type, aggregate_id, payload,
                 idempotency_key, status, attempts, max_attempts, next_attempt_at, lease_owner, last_error,
                 created_at, delivered_at, updated_at)
             SELECT CASE WHEN i % 3 = 0 THEN {crm.pk} ELSE {erp.pk} END,
                 (ARRAY['order.push','order.reserve','catalog.push','stock.push','deal.update','invoice.attach'])[1 + i % 6],
                 CASE WHEN i % 2 = 0 THEN 'order' ELSE 'product' END, (i % 40000)::text, '{{}}', 'k' || i,
                 CASE WHEN i % 100 = 0 THEN 'dead' WHEN i % 100 = 1 THEN 'discarded'
                      WHEN i % 100 < 4 THEN 'pending' ELSE 'delivered' END,
                 1, 10, now(), '', CASE WHEN i % 100 = 0 THEN 'HTTP 500 Internal Server Error' ELSE '' END,
                 now() - ({OUTBOX} - i) * interval '10 seconds', now(), now()
             FROM generate_series(1, {OUTBOX}) i""", "outbox events"),
        (f"""INSERT INTO integration_journalentry (backend_id, direction, method, url, status_code, duration_ms,
                 request_headers, request_body, response_headers, response_body, error, content_type_id, object_id,
                 object_repr, created_at)
             SELECT CASE WHEN i % 3 = 0 THEN {crm.pk} ELSE {erp.pk} END, CASE WHEN i % 10 = 0 THEN 'in' ELSE 'out' END,
                 (ARRAY['GET','GET','GET','POST','PUT','PATCH'])[1 + i % 6],
                 'https://api.moysklad.ru/api/remap/1.2/entity/product/' || md5(i::text),
                 CASE WHEN i % 500 = 0 THEN NULL WHEN i % 200 = 0 THEN 500 WHEN i % 100 = 0 THEN 429 ELSE 200 END,
                 20 + i % 300, '{{}}', '', '{{}}',
                 CASE WHEN i % 10 = 0 THEN repeat('{{"rows": [1, 2, 3]}} ', 10) ELSE '' END,
                 CASE WHEN i % 500 = 0 THEN 'ConnectTimeout' ELSE '' END,
                 {product_type.pk}, (i % {max(PRODUCTS, 1)})::text, 'ART-' || lpad((i % {max(PRODUCTS, 1)})::text, 6, '0'),
                 now() - ({JOURNAL} - i) * interval '{30 * 86400 / max(JOURNAL, 1):.6f} seconds'
             FROM generate_series(1, {JOURNAL}) i""", "journal entries"),
    ]
    with connection.cursor() as cursor:
        for sql, what in statements:
            started = time.monotonic()
            cursor.execute(sql)
            log.info("%s: %s rows in %.1f s", what, cursor.rowcount, time.monotonic() - started)
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        log.info("vacuum analyze in %.1f s", time.monotonic() - started)
    return {"user": user, "erp": erp.pk, "category": categories[7].pk, "product_type": product_type.pk}


def pages(ids: dict) -> dict[str, str]:
    from django.utils import timezone

    today = timezone.localdate()
    day = f"created_at__year={today.year}&created_at__month={today.month}&created_at__day={today.day}"
    month = f"created_at__year={today.year}&created_at__month={today.month}"
    middle = PRODUCTS // 2
    return {
        "dashboard": "/admin/",
        "products": "/admin/catalog/product/",
        "products_search_name": "/admin/catalog/product/?q=Перфоратор модель 4321",
        "products_search_article": f"/admin/catalog/product/?q=ART-{middle:06d}",
        "products_search_barcode": f"/admin/catalog/product/?q=46{middle:011d}",
        "products_active": "/admin/catalog/product/?active__exact=1",
        "products_category": f"/admin/catalog/product/?category__id__exact={ids['category']}",
        "journal": "/admin/integration/journalentry/",
        "journal_search": f"/admin/integration/journalentry/?q=ART-{middle:06d}",
        "journal_5xx": "/admin/integration/journalentry/?outcome=5xx",
        "journal_errors": "/admin/integration/journalentry/?outcome=error",
        "journal_backend": f"/admin/integration/journalentry/?backend__id__exact={ids['erp']}",
        "journal_incoming": "/admin/integration/journalentry/?direction__exact=in",
        "journal_month": f"/admin/integration/journalentry/?{month}",
        "journal_day": f"/admin/integration/journalentry/?{day}",
        "journal_object": (f"/admin/integration/journalentry/?content_type__id__exact={ids['product_type']}"
                           f"&object_id={middle}"),
        "outbox": "/admin/integration/outboxevent/",
        "outbox_dead": "/admin/integration/outboxevent/?status__exact=dead",
        "outbox_pending": "/admin/integration/outboxevent/?status__exact=pending",
        "outbox_backend": f"/admin/integration/outboxevent/?backend__id__exact={ids['erp']}",
        "outbox_topic": "/admin/integration/outboxevent/?topic=order.push",
        "outbox_search": "/admin/integration/outboxevent/?q=12345",
        "outbox_held_back": "/admin/integration/outboxevent/?blocked=dead",
        "orders": "/admin/orders/order/",
        "orders_search": f"/admin/orders/order/?q=ЗК-{ORDERS // 2:06d}",
        "orders_status": "/admin/orders/order/?status__exact=reserved",
        "orders_month": f"/admin/orders/order/?{month}",
    }


def measure(client, url: str, *, cold: bool = False) -> list[float]:
    """Wall-clock ms of each request after a warm-up one; `cold`: the cache is emptied before each."""
    from django.core.cache import cache

    timings = []
    for n in range(REQUESTS + 1):
        if cold:
            cache.clear()
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise AssertionError(f"{url}: HTTP {response.status_code}")
        if n:  # the first request warms caches up
            timings.append(elapsed)
    return timings


def run() -> list[dict]:
    from django.test import Client, override_settings

    started = time.monotonic()
    ids = seed()
    seeded = time.monotonic() - started
    client = Client(HTTP_HOST="localhost")
    client.force_login(ids["user"])
    results = {}
    with override_settings(DEBUG=False):  # as in production: no query log kept per request
        for name, url in pages(ids).items():
            results[name] = round(percentile(measure(client, url), 95), 1)
            log.info("%s: p95 %.1f ms", name, results[name])
        # The dashboard's KPI panel and charts are cached for minutes: what the first visitor after that waits.
        cold = round(percentile(measure(client, "/admin/", cold=True), 95), 1)
    worst = max(results.values())
    return [{"bench": "admin_changelists", "products": PRODUCTS, "journal": JOURNAL, "outbox": OUTBOX,
             "orders": ORDERS, "requests_per_page": REQUESTS, "seed_seconds": round(seeded, 1), "pages": results,
             "worst_p95_ms": worst, "slow_pages": sorted(name for name, ms in results.items() if ms > AIM_MS),
             "dashboard_cold_cache_p95_ms": cold}]
