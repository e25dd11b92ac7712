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

    def progress(done):
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
