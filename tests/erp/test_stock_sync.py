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
