"""Full and incremental catalog syncs from the MoySklad sandbox into PostgreSQL."""

from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import Barcode, Category, KitComponent, Pack, Price, PriceList, Product, Unit, Warehouse
from integration.erp.moysklad.catalog_sync import sync_catalog, sync_prices
from integration.errors import RetryableError
from integration.models import Binding, SyncRun

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _writes() -> dict[str, int]:
    """Rows inserted/updated/deleted so far per catalog table, bindings and history (pg_stat)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT 1")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
            "WHERE relname LIKE 'catalog_%' OR relname = 'integration_binding'"
        )
        return {name: int(count) for name, count in cursor.fetchall()}


def test_full_sync_lands_products_kits_packs_prices(backend):
    run = sync_catalog(backend, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.failed == 0, run.details
    assert Product.objects.filter(kind="goods").count() == 294
    assert Product.objects.filter(kind="service").count() == 7
    assert Unit.objects.filter(okei_code="006").exists() and Category.objects.count() == 11
    assert PriceList.objects.count() == 3 and Warehouse.objects.count() == 3
    cable = Product.objects.get(article="VVGNG-3X2.5")
    assert cable.unit.okei_code == "006" and cable.vat_rate == "22"
    assert Pack.objects.get(product=cable).factor == Decimal("100")
    assert Barcode.objects.filter(product=cable).count() == 2  # its own and the reel's
    retail = Price.objects.get(product=cable, price_list__code="retail").amount
    assert retail == Decimal("96.50")
    assert Price.objects.get(product=cable, price_list__code="dealer").amount == (
        retail * Decimal("0.8")
    ).quantize(Decimal("0.01"))
    kit = Product.objects.get(article="KIT-FLAT-PANEL")
    assert kit.kind == "kit"
    assert {c.component.article: c.quantity for c in KitComponent.objects.filter(kit=kit)}[
        "MVA20-1-016-C"
    ] == 4
    assert Product.objects.get(article="SRV-EDU-EB2").vat_rate == "none"
    assert Product.objects.get(article="BK-SPR-EM").vat_rate == "10"
    assert Binding.objects.filter(backend=backend).count() == Product.objects.count()
    assert not Product.history.exists()  # machine traffic writes no history


def test_resync_unchanged_writes_nothing(backend):
    sync_catalog(backend, full=True)
    stamps = dict(Product.objects.values_list("pk", "updated_at"))
    before = _writes()
    run = sync_catalog(backend, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.unchanged == Product.objects.count() and run.created == run.updated == 0
    assert _writes() == before
    assert dict(Product.objects.values_list("pk", "updated_at")) == stamps
    assert not Product.history.exists()


def test_incremental_sync_reads_only_changes_since_the_cursor(backend, ms):
    sync_catalog(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    ms.control(
        "moysklad/product",
        {"article": "VVGNG-3X2.5", "name": "Кабель ВВГнг 3х2,5 (новый)", "prices": {"Розничная": "99.90"}},
    )
    ms.control("moysklad/product", {"article": "NYM-3X1.5", "archived": True})
    run = sync_catalog(backend)
    assert run.status == SyncRun.Status.SUCCEEDED and not run.full
    assert run.created == 0 and run.updated == 2
    assert run.unchanged < 20  # only the overlap window is re-read, not the whole catalog
    cable.refresh_from_db()
    assert cable.name == "Кабель ВВГнг 3х2,5 (новый)"
    assert Price.objects.get(product=cable, price_list__code="retail").amount == Decimal("99.90")
    archived = Product.objects.get(article="NYM-3X1.5")
    assert archived.active is False and archived.archived_at is not None  # archived, never deleted


def test_prices_sync_writes_only_changed_prices(backend, ms):
    sync_catalog(backend, full=True)
    ms.control("moysklad/product", {"article": "VVGNG-3X2.5", "prices": {"Оптовая": "80.00"}})
    run = sync_prices(backend)
    assert run.status == SyncRun.Status.SUCCEEDED and run.updated == 1 and run.created == 0
    cable = Product.objects.get(article="VVGNG-3X2.5")
    assert Price.objects.get(product=cable, price_list__code="wholesale").amount == Decimal("80.00")


def test_outage_mid_sync_fails_the_run_and_keeps_whole_pages(backend, ms):
    backend.settings["page_limit"] = 50
    backend.save()
    pages = []

    def progress(done, total=None):  # the syncs' progress(done, total=None) protocol
        pages.append(done)
        if len(pages) == 2:
            ms.set_faults(down=True)

    with pytest.raises(RetryableError):
        sync_catalog(backend, full=True, progress=progress)
    run = SyncRun.objects.get(backend=backend, kind="catalog")
    assert run.status == SyncRun.Status.FAILED
    assert "HTTP 503" in run.error and "entity/product" in run.error
    # Whole pages only: two (or three, when the next page was already fetched ahead), never a part of one.
    landed = Product.objects.count()
    assert landed in (100, 150)
    assert Binding.objects.filter(backend=backend).count() == landed
    assert Price.objects.values("product").distinct().count() == landed
    ms.set_faults(down=False)
    assert sync_catalog(backend, full=True).status == SyncRun.Status.SUCCEEDED
    assert Product.objects.count() == 305


def _sync_twice(backend) -> SyncRun:
    """The nightly run and the next one: both succeed, the second finds nothing to write."""
    first = sync_catalog(backend)
    assert first.status == SyncRun.Status.SUCCEEDED and first.failed == 0, (first.error, first.details)
    second = sync_catalog(backend)
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert second.created == second.updated == 0
    return first


def test_a_product_sold_in_a_pack_can_still_change(backend, ms):
    """Issue 11 item 8: packs, barcodes and prices are upserted by their ERP identity and deactivated,
    never deleted, so a sold pack (OrderLine.pack is PROTECT) no longer fails every nightly run."""
    from integration.erp.moysklad.stock_sync import sync_stock
    from integration.widget.search import ProductQuery, search_products
    from orders import actions
    from orders.types import Actor, CartLine

    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    reel = Pack.objects.get(product=cable)
    reel_code = reel.barcode
    own_code = Barcode.objects.exclude(value=reel_code).get(product=cable).value
    store = cable.stock.filter(on_hand__gte=100).order_by("pk").first().warehouse
    order = actions.get_or_create_order_for_lead(770011)
    actions.set_cart(
        order, [CartLine(cable.pk, Decimal("1"), pack_id=reel.pk, warehouse_id=store.pk)],
        actor=Actor(source="widget", crm_user_id=1),
    )
    line = order.lines.get()
    assert line.pack_id == reel.pk and line.base_quantity == 100

    # The ERP changes the price, the product's barcode, the reel's factor and adds a box.
    unit_code = reel.unit.okei_code
    ms.control(
        "moysklad/product",
        {
            "article": "VVGNG-3X2.5",
            "prices": {"Розничная": "101.10"},
            "barcodes": ["4600000000011"],
            "packs": [
                {"id": reel.erp_id, "uom": unit_code, "quantity": 50, "barcodes": [reel_code]},
                {"uom": "778", "quantity": 10, "barcodes": ["4600000000028"]},
            ],
        },
    )
    run = _sync_twice(backend)
    assert run.updated == 1
    reel.refresh_from_db()
    assert (reel.pk, reel.factor, reel.active) == (line.pack_id, Decimal("50"), True)  # same row, new factor
    assert Pack.objects.get(product=cable, unit__okei_code="778").factor == 10
    assert Price.objects.get(product=cable, price_list__code="retail").amount == Decimal("101.10")
    assert set(Barcode.objects.filter(product=cable).values_list("value", flat=True)) == {
        "4600000000011", reel_code, "4600000000028"
    }
    assert Barcode.all_objects.get(value=own_code).active is False  # kept, deactivated

    # The ERP drops the reel: it is deactivated, the sold line keeps it, reads no longer offer it.
    ms.control(
        "moysklad/product",
        {"article": "VVGNG-3X2.5", "packs": [{"uom": "778", "quantity": 10, "barcodes": ["4600000000028"]}]},
    )
    _sync_twice(backend)
    line.refresh_from_db()
    reel.refresh_from_db()
    assert line.pack_id == reel.pk and reel.active is False and reel.factor == 50
    assert list(Pack.objects.filter(product=cable).values_list("unit__okei_code", flat=True)) == ["778"]
    found = search_products(ProductQuery(q="VVGNG-3X2.5"))["results"]
    assert [Decimal(p["factor"]) for p in found[0]["packs"]] == [10]
    assert reel_code not in found[0]["barcodes"] and own_code not in found[0]["barcodes"]
    assert search_products(ProductQuery(q=reel_code))["results"] == []  # an old barcode finds nothing

    # The ERP brings the reel back under the same id: the same row is reactivated.
    ms.control(
        "moysklad/product",
        {
            "article": "VVGNG-3X2.5",
            "packs": [
                {"id": reel.erp_id, "uom": unit_code, "quantity": 100, "barcodes": [reel_code]},
                {"uom": "778", "quantity": 10, "barcodes": ["4600000000028"]},
            ],
        },
    )
    _sync_twice(backend)
    reel.refresh_from_db()
    assert (reel.active, reel.factor) == (True, Decimal("100"))
    assert Pack.all_objects.filter(product=cable).count() == 2
