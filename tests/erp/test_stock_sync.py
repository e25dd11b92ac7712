"""Stock from the MoySklad sandbox: full snapshot (zeros, batches), incremental `/current`, on demand."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from catalog.models import Batch, Product, StockLevel
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.stock_sync import sync_stock
from integration.erp.services import refresh_stock_for
from integration.models import SyncRun
from tests.erp.conftest import raw

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _erp_figures(ms, product_erp_id: str) -> dict[str, tuple[float, float, float]]:
    """The sandbox's own per-store view of one product (batches summed)."""
    _, _, body = raw(
        ms,
        "GET",
        f"/report/stock/bystore?filter=stockMode=all;product={ms.url}/api/remap/1.2/entity/product/{product_erp_id}",
    )
    return {c["name"]: (c["stock"], c["reserve"], c["inTransit"]) for c in body["rows"][0]["stockByStore"]}


def _ours(product: Product) -> dict[str, tuple[float, float, float]]:
    rows = (
        StockLevel.objects.filter(product=product)
        .values("warehouse__name")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"), expected=Sum("expected"))
    )
    return {
        r["warehouse__name"]: (float(r["on_hand"]), float(r["reserved"]), float(r["expected"])) for r in rows
    }


def test_full_stock_matches_the_erp_including_zeros_and_batches(backend, ms):
    sync_catalog(backend, full=True)
    run = sync_stock(backend, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED and run.failed == 0, run.details
    cable = Product.objects.get(article="VVGNG-3X2.5")
    assert _ours(cable) == _erp_figures(ms, cable.erp_id)
    lamp = Product.objects.filter(tracking=Product.Tracking.BATCH).order_by("article").first()
    assert lamp is not None and Batch.objects.filter(product=lamp).count() >= 2
    assert StockLevel.objects.filter(product=lamp, batch__isnull=False).exists()
    assert _ours(lamp) == _erp_figures(ms, lamp.erp_id)
    # zero rows are present: every goods product has a row per warehouse
    assert (
        StockLevel.objects.filter(batch__isnull=True, product__tracking="none").count()
        == 3 * Product.objects.filter(kind="goods", tracking="none").count()
    )
    assert StockLevel.objects.filter(snapshot_at__isnull=True).count() == 0


def test_incremental_stock_reads_current_changes(backend, ms):
    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    ms.control("moysklad/stock", {"article": "VVGNG-3X2.5", "store": "Москва", "stock": 7, "inTransit": 40})
    run = sync_stock(backend)
    assert run.status == SyncRun.Status.SUCCEEDED and not run.full
    assert run.updated == 1 and run.created == 0
    row = StockLevel.objects.get(product=cable, warehouse__name="Москва", batch__isnull=True)
    assert (row.on_hand, row.expected) == (Decimal("7"), Decimal("40"))
    assert _ours(cable) == _erp_figures(ms, cable.erp_id)


def test_refresh_stock_for_products_on_demand(backend, ms):
    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    kit = Product.objects.get(article="KIT-ELECTRICIAN")
    component = kit.components.order_by("pk").first().component
    ms.control("moysklad/stock", {"product": component.erp_id, "store": "Санкт-Петербург", "stock": 3})
    assert refresh_stock_for([kit.pk], budget_seconds=2.0) is True
    row = StockLevel.objects.get(product=component, warehouse__name="Санкт-Петербург", batch__isnull=True)
    assert row.on_hand == Decimal("3")
    ms.set_faults(down=True)
    assert refresh_stock_for([kit.pk], budget_seconds=0.5) is False


def _lock_waiters() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def _wait_for_waiters(count: int, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while _lock_waiters() < count:
        assert time.monotonic() < deadline, f"expected {count} transactions waiting on a row lock"
        time.sleep(0.02)


def test_stock_sync_and_reservations_lock_rows_in_one_order(backend, ms):
    """Issue 11 item 14: the stock refresh used to write rows in the ERP's order while the stock guard
    locks them in primary-key order. Rows whose pk order is the reverse of the ERP's order, a third
    transaction holding the middle row so both queue behind it: with two lock orders PostgreSQL aborts
    one of them (deadlock detected); with one order the second simply waits for the first."""
    import threading

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Warehouse
    from integration.erp.moysklad.adapter import MoySkladAdapter
    from integration.erp.moysklad.stock_sync import refresh_products
    from orders import actions
    from orders.types import Actor, CartLine

    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    store = Warehouse.objects.get(name="Москва")
    goods = list(
        Product.objects.filter(kind="goods", tracking="none", prices__isnull=False).distinct().order_by("pk")[:6]
    )
    erp_order = [
        c.assortment_erp_id
        for c in MoySkladAdapter(backend).stock_for([p.erp_id for p in goods])
        if c.warehouse_erp_id == store.erp_id
    ]
    by_erp_id = {p.erp_id: p for p in goods}
    goods = [by_erp_id[e] for e in dict.fromkeys(erp_order) if e in by_erp_id]
    assert len(goods) == 6
    # Our rows, re-created so that primary-key order is the reverse of the ERP's order.
    StockLevel.objects.filter(product__in=goods).delete()
    for product in reversed(goods):
        StockLevel.objects.create(product=product, warehouse=store, on_hand=50, snapshot_at=None)
    rows = {row.product_id: row.pk for row in StockLevel.objects.filter(product__in=goods)}
    assert [rows[p.pk] for p in goods] == sorted(rows.values(), reverse=True)
    ms.control("moysklad/stock", {"changes": [{"id": p.erp_id, "store": store.name, "stock": 1000} for p in goods]})

    middle = rows[goods[2].pk]
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    sync_queries: list[str] = []

    def blocker():
        try:
            with transaction.atomic():
                list(StockLevel.objects.select_for_update().filter(pk=middle))
                held.set()
                release.wait(30)
        finally:
            connection.close()

    def stock_refresh():
        try:
            with CaptureQueriesContext(connection) as ctx:
                refresh_products(backend, [p.pk for p in goods])
            sync_queries.extend(q["sql"] for q in ctx.captured_queries if "catalog_stocklevel" in q["sql"])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    def reserve():
        try:
            order = actions.get_or_create_order_for_lead(881401)
            actions.set_cart(
                order,
                [CartLine(p.pk, Decimal("1"), warehouse_id=store.pk) for p in goods],
                actor=Actor(source="widget", crm_user_id=1),
            )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=blocker)]
    threads[0].start()
    assert held.wait(10)
    threads.append(threading.Thread(target=stock_refresh))
    threads[1].start()
    _wait_for_waiters(1)  # the refresh waits for the middle row
    threads.append(threading.Thread(target=reserve))
    threads[2].start()
    _wait_for_waiters(2)  # and the reservation waits too
    release.set()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert not any(t.is_alive() for t in threads)
    assert {float(v) for v in StockLevel.objects.filter(product__in=goods, warehouse=store).values_list("on_hand", flat=True)} == {1000}
    # The refresh's first statement on the stock rows is the lock, in primary-key order, before any write.
    assert "FOR UPDATE" in sync_queries[0] and 'ORDER BY "catalog_stocklevel"."id" ASC' in sync_queries[0]


def test_a_refresh_racing_another_writer_for_a_new_row_does_not_fail(backend, ms):
    """The 4-minute stock sync and a widget's on-demand refresh may both create the same new stock row:
    the second waits for the first and leaves the row to it instead of failing on the unique key."""
    import threading

    from django.db import connection, transaction

    from catalog.models import Warehouse
    from integration.erp.moysklad.stock_sync import refresh_products

    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    store = Warehouse.objects.get(name="Москва")
    StockLevel.objects.filter(product=cable, warehouse=store).delete()
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_writer():
        try:
            with transaction.atomic():
                StockLevel.objects.create(product=cable, warehouse=store, on_hand=1)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    def refresh():
        try:
            refresh_products(backend, [cable.pk])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=other_writer), threading.Thread(target=refresh)]
    threads[0].start()
    assert held.wait(10)
    threads[1].start()
    _wait_for_waiters(1)  # the refresh's insert waits for the other writer's row
    release.set()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert StockLevel.objects.filter(product=cable, warehouse=store).count() == 1
