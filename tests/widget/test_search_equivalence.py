"""The one-query widget search answers exactly what the search of the first version answered (kept below as
`reference_search`: ORM queries, sellable_availability), on random pages of a seeded catalog with packs,
kits, batches, several warehouses, prices in two lists and every kind of reservation."""

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import (
    Barcode,
    Batch,
    KitComponent,
    Pack,
    Price,
    PriceList,
    Product,
    Segment,
    StockLevel,
    Unit,
    Warehouse,
)
from counterparties.models import Counterparty
from integration.erp.services import refresh_stock_for
from integration.widget import search
from integration.widget.search import ProductQuery, search_products
from orders.availability import sellable_availability
from orders.models import Order, Reservation
from orders.pricing import base_prices, price_list_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
WORDS = ["Дрель", "Пила", "Кабель", "Набор", "Лампа", "Труба", "Болт_М8", "Скидка 50%"]


# ---- the search of the first version, verbatim but for names (today's computation) ------------------------
def _matching(q: str):
    products = Product.objects.filter(active=True)
    if not q:
        return products
    text = Q(name__icontains=q) | Q(article__icontains=q)
    if " " in q or len(q) < search.MIN_BARCODE_LENGTH:
        return products.filter(text)
    by_code = Barcode.objects.filter(value=q).values_list("product_id", flat=True).union(
        Pack.objects.filter(barcode=q).values_list("product_id", flat=True)
    )
    return products.filter(text | Q(pk__in=sorted(by_code)))


def _price_list_for(query: ProductQuery):
    if query.counterparty_id:
        client = Counterparty.objects.select_related("segment__price_list").filter(pk=query.counterparty_id).first()
        return price_list_for(client)
    order = (
        Order.objects.filter(lead_id=query.lead_id).select_related("counterparty__segment__price_list").first()
        if query.lead_id
        else None
    )
    return price_list_for(order.counterparty if order else None)


def _unit(unit) -> dict:
    return {"id": unit.pk, "okei_code": unit.okei_code, "short_name": unit.short_name}


def reference_search(query: ProductQuery) -> dict:
    offset = (query.page - 1) * query.page_size
    found = list(
        _matching(query.q).select_related("unit").order_by("article")[offset : offset + query.page_size + 1]
    )
    has_next = len(found) > query.page_size
    found = found[: query.page_size]
    ids = [p.pk for p in found]
    price_list = _price_list_for(query)
    prices = base_prices(ids, price_list)
    packs = defaultdict(list)
    for pack in Pack.objects.filter(product_id__in=ids).select_related("unit").order_by("factor", "pk"):
        packs[pack.product_id].append(pack)
    barcodes = defaultdict(list)
    for product_id, value in Barcode.objects.filter(product_id__in=ids).order_by("pk").values_list(
        "product_id", "value"
    ):
        barcodes[product_id].append(value)
    warehouse_ids = [query.warehouse_id] if query.warehouse_id else None
    kit_ids = [p.pk for p in found if p.kind == Product.Kind.KIT]
    stock = sellable_availability(ids, warehouse_ids=warehouse_ids, kit_ids=kit_ids)
    now = timezone.now()
    stocked = [p.pk for p in found if p.kind != Product.Kind.SERVICE]
    stale = {pid for pid in stocked if search._is_stale(stock[pid].snapshot_at, now)}
    if stale and refresh_stock_for(sorted(stale), budget_seconds=search.REFRESH_BUDGET_SECONDS):
        stock.update(sellable_availability(sorted(stale), warehouse_ids=warehouse_ids, kit_ids=kit_ids))
        stale = set()
    names = dict(Warehouse.objects.values_list("pk", "name"))
    currency = price_list.currency if price_list else "RUB"
    list_code = price_list.code if price_list else None
    results = []
    for product in found:
        figures = stock[product.pk]
        price = prices.get(product.pk)
        results.append({
            "id": product.pk, "article": product.article, "name": product.name, "kind": product.kind,
            "tracking": product.tracking, "vat_rate": product.vat_rate, "unit": _unit(product.unit),
            "packs": [{"id": p.pk, "unit": _unit(p.unit), "factor": search._qty(p.factor), "barcode": p.barcode}
                      for p in packs[product.pk]],
            "barcodes": barcodes[product.pk],
            "price": None if price is None else f"{price:.2f}", "currency": currency, "price_list": list_code,
            "stock": {
                "total": search._figures(figures.total),
                "warehouses": [
                    {"warehouse_id": wid, "warehouse": names.get(wid, str(wid)), **search._figures(f)}
                    for wid, f in sorted(figures.by_warehouse.items())
                ],
                "snapshot_at": timezone.localtime(figures.snapshot_at).isoformat() if figures.snapshot_at else None,
                "stale": product.pk in stale,
            },
        })
    return {"results": results, "page": query.page, "page_size": query.page_size, "has_next": has_next}


# ---- a seeded catalog -------------------------------------------------------------------------------------
def _qty(rng, scale=200) -> Decimal:
    return Decimal(rng.randint(0, scale * 1000)) / 1000


@pytest.fixture
def catalog(db):
    rng = random.Random(18)
    now = timezone.now()
    pcs = Unit.objects.create(okei_code="796", name="штука", short_name="шт")
    box = Unit.objects.create(okei_code="778", name="упаковка", short_name="упак")
    metre = Unit.objects.create(okei_code="006", name="метр", short_name="м")
    warehouses = [Warehouse.objects.create(name=n) for n in ("Москва", "Казань", "Тверь")]
    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    wholesale = PriceList.objects.create(name="Опт", code="wholesale", currency="USD")
    segment = Segment.objects.create(name="Опт", code="opt", price_list=wholesale)
    clients = [Counterparty.objects.create(name="ООО Опт", inn="7707083893", kpp="770701001", segment=segment),
               Counterparty.objects.create(name="ИП Розница", inn="500100732259", kind="entrepreneur")]
    orders = [Order.objects.create(lead_id=100 + n, counterparty=c) for n, c in enumerate([*clients, None])]
    products = []
    for n in range(160):
        kind = rng.choices(["goods", "service"], [9, 1])[0]
        tracking = "batch" if kind == "goods" and rng.random() < 0.2 else "none"
        products.append(Product.objects.create(
            article=f"{rng.choice(['ART', 'KB', 'X_1'])}-{n:04d}", name=f"{rng.choice(WORDS)} {rng.randint(1, 99)}",
            unit=rng.choice([pcs, metre]), kind=kind, tracking=tracking, active=rng.random() > 0.05,
            vat_rate=rng.choice(["22", "10", "none"]),
        ))
    goods = [p for p in products if p.kind == "goods"]
    for n in range(25):
        kit = Product.objects.create(article=f"KIT-{n:03d}", name=f"Набор {n}", unit=pcs, kind="kit")
        for component in rng.sample(goods, rng.randint(1, 3)):
            KitComponent.objects.create(kit=kit, component=component, quantity=Decimal(rng.randint(1, 4)),
                                        active=rng.random() > 0.1)
        products.append(kit)
    code = 4600000000000
    for product in products:
        for _ in range(rng.randint(0, 2)):
            code += 1
            Barcode.objects.create(product=product, value=str(code), active=rng.random() > 0.1)
        if rng.random() < 0.4:
            code += 1
            Pack.objects.create(product=product, unit=box, factor=Decimal(rng.choice(["6", "12", "0.5"])),
                                barcode=str(code), active=rng.random() > 0.1)
        for price_list in (retail, wholesale):
            if rng.random() < 0.85:
                Price.objects.create(product=product, price_list=price_list, amount=_qty(rng, 5000),
                                     active=rng.random() > 0.05)
        if product.kind != "goods":
            continue
        batches = ([Batch.objects.create(product=product, number=f"B{b}") for b in range(rng.randint(1, 3))]
                   if product.tracking == "batch" else [None])
        for warehouse in rng.sample(warehouses, rng.randint(0, 3)):
            for batch in batches:
                at = rng.choice([now, now - timedelta(minutes=5), now - timedelta(hours=3), None])
                StockLevel.objects.create(product=product, warehouse=warehouse, batch=batch, on_hand=_qty(rng),
                                          reserved=_qty(rng, 20), expected=_qty(rng, 10), snapshot_at=at)
    statuses = [Reservation.Status.PENDING, Reservation.Status.CONFIRMED, Reservation.Status.RELEASED]
    for _ in range(150):
        product = rng.choice(goods)
        batch = product.batches.order_by("?").first() if product.tracking == "batch" else None
        status = rng.choice(statuses)
        confirmed = rng.choice([None, now - timedelta(hours=1), now - timedelta(minutes=1)])
        Reservation.objects.create(order=rng.choice(orders), product=product, warehouse=rng.choice(warehouses),
                                   batch=batch, quantity=_qty(rng, 30), status=status,
                                   confirmed_at=confirmed if status != Reservation.Status.PENDING else None)
    codes = list(Barcode.all_objects.values_list("value", flat=True)) + list(
        Pack.all_objects.exclude(barcode="").values_list("barcode", flat=True))
    return {"warehouses": warehouses, "clients": clients, "products": products, "codes": codes}


def _queries(catalog, rng, count):
    texts = ["", "", "ART", "kb-00", "x_1", "%", "_", "набор", "дрель", "скидка 50%", "болт_м8", "-01", "zzz"]
    for _ in range(count):
        q = rng.choice(texts + [rng.choice(catalog["codes"]), rng.choice(catalog["products"]).article])
        yield ProductQuery(
            q=q, page=rng.choice([1, 1, 2, 3, 7]), page_size=rng.choice([1, 5, 20, 100]),
            lead_id=rng.choice([None, 100, 101, 102, 999]),
            counterparty_id=rng.choice([None, None, catalog["clients"][0].pk, catalog["clients"][1].pk, 10**9]),
            warehouse_id=rng.choice([None, None, catalog["warehouses"][0].pk, catalog["warehouses"][2].pk]),
        )


def _without_queue_flag(page: dict) -> dict:
    page = dict(page)
    assert page.pop("refresh_queued") is False  # no ERP here: nothing can be queued
    return page


def test_the_one_query_search_answers_exactly_as_the_first_version_on_random_pages(catalog):
    rng = random.Random(2026)
    compared = nonempty = kits = stale = 0
    for query in _queries(catalog, rng, 250):
        expected = reference_search(query)
        assert _without_queue_flag(search_products(query)) == expected, query
        compared += 1
        nonempty += bool(expected["results"])
        kits += sum(r["kind"] == "kit" for r in expected["results"])
        stale += sum(r["stock"]["stale"] for r in expected["results"])
    assert nonempty > 150 and kits > 20 and stale > 20  # the random pages did cover the cases


@pytest.mark.parametrize("window", [0, 3, 40])
def test_both_ways_of_finding_a_page_answer_the_same(catalog, monkeypatch, window):
    """page_rows reads a page from the first SCAN_WINDOW products by article when they hold enough matches, else
    from every match: a short window makes the first way come back short (or succeed) on this small catalog."""
    from integration.widget import page_rows

    monkeypatch.setattr(page_rows, "SCAN_WINDOW", window)
    rng = random.Random(31 + window)
    for query in _queries(catalog, rng, 80):
        assert _without_queue_flag(search_products(query)) == reference_search(query), query


def test_figures_stay_equal_as_reservations_are_made_confirmed_and_released(catalog):
    rng = random.Random(7)
    held = list(Reservation.objects.exclude(status=Reservation.Status.RELEASED))
    for step in range(30):
        res = rng.choice(held)
        if step % 3 == 0:
            res.status, res.confirmed_at = Reservation.Status.CONFIRMED, timezone.now() - timedelta(minutes=2)
        elif step % 3 == 1:
            res.status = Reservation.Status.RELEASED
        else:
            StockLevel.objects.filter(product_id=res.product_id).update(snapshot_at=timezone.now())
        res.save()
        query = ProductQuery(q=Product.objects.get(pk=res.product_id).article)
        assert _without_queue_flag(search_products(query)) == reference_search(query)


def test_a_page_is_one_query_with_text_lead_client_or_barcode(catalog):
    # Fresh stock everywhere (nothing to queue) and the per-process cache of warehouse names warm.
    Product.objects.filter(kind="kit").update(active=False)
    where = catalog["warehouses"][0]
    for product in Product.objects.filter(kind="goods", stock__isnull=True):
        StockLevel.objects.create(product=product, warehouse=where)
    StockLevel.objects.update(snapshot_at=timezone.now())
    search.warehouse_names(set(Warehouse.objects.values_list("pk", flat=True)))
    cases = [ProductQuery(q="", page_size=100), ProductQuery(q="пила", lead_id=100),
             ProductQuery(q=catalog["codes"][0], counterparty_id=catalog["clients"][0].pk)]
    for query in cases:
        with CaptureQueriesContext(connection) as queries:
            page = search_products(query)
        assert page["results"] and len(queries) == 1, (query, [q["sql"][:80] for q in queries])


def test_the_portable_reader_of_the_sqlite_demo_reads_the_same_pages(catalog):
    """`make demo` runs on SQLite, where the one PostgreSQL query cannot run: its ORM reader must give the page
    the search computes from, row for row."""
    from integration.widget.page_rows import read_page, read_page_portable

    rng = random.Random(11)
    rows = kits = held = 0
    for query in _queries(catalog, rng, 120):
        args = {"q": query.q, "barcode": bool(query.q) and " " not in query.q
                and len(query.q) >= search.MIN_BARCODE_LENGTH, "counterparty_id": query.counterparty_id,
                "lead_id": query.lead_id, "warehouse_id": query.warehouse_id,
                "offset": (query.page - 1) * query.page_size, "limit": query.page_size + 1}
        one, portable = read_page(**args), read_page_portable(**args)
        assert (one.price_list_code, one.currency) == (portable.price_list_code, portable.currency), query
        assert len(one.rows) == len(portable.rows), query
        for a, b in zip(one.rows, portable.rows, strict=True):
            assert (a.id, a.article, a.name, a.kind, a.unit, a.price, a.packs, a.barcodes) == (
                b.id, b.article, b.name, b.kind, b.unit, b.price, b.packs, b.barcodes), query
            assert sorted(a.components) == sorted(b.components), query
            assert sorted(a.stock, key=lambda r: (r.product_id, r.warehouse_id)) == sorted(
                b.stock, key=lambda r: (r.product_id, r.warehouse_id)), query
            assert a.nulls == b.nulls, query
            key = lambda r: r["id"]  # noqa: E731
            assert sorted(a.reservations, key=key) == sorted(b.reservations, key=key), query
            rows, kits, held = rows + 1, kits + (a.kind == "kit"), held + bool(a.reservations)
    assert rows > 300 and kits > 3 and held > 30  # the random pages did cover the cases
