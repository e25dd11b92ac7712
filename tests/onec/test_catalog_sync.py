"""The ERP core's importers against the 1C sandbox: the same catalog, prices, stock and counterparties as the
MoySklad tests expect from the same demo company, a resync that writes nothing, 1C users' edits taken."""

from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import (
    Barcode,
    Category,
    KitComponent,
    Pack,
    Price,
    PriceList,
    Product,
    StockLevel,
    Unit,
    Warehouse,
)
from counterparties.models import Counterparty
from integration.erp.onec.client import OneCClient
from integration.errors import RetryableError
from integration.models import Binding, SyncRun
from integration.sandbox import demo_company as demo
from integration.syncs import run_sync
from tests.onec.conftest import entities, make_backend

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
COMPANY = demo.demo_company()


def _writes() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
                       "WHERE relname LIKE 'catalog_%' OR relname = 'integration_binding'")
        return {name: int(count) for name, count in cursor.fetchall()}


def _sync(backend, kind: str, **kwargs) -> SyncRun:
    run = run_sync(kind, backend, full=True, **kwargs)
    assert run.status == SyncRun.Status.SUCCEEDED and run.failed == 0, (run.error, run.details)
    return run


def test_full_sync_lands_the_demo_catalog(backend):
    _sync(backend, "warehouses")
    _sync(backend, "catalog")
    assert Product.objects.filter(kind="goods").count() == 294
    assert Product.objects.filter(kind="service").count() == 7
    assert Unit.objects.filter(okei_code="006").exists() and Category.objects.count() == 11
    assert PriceList.objects.count() == 3 and Warehouse.objects.count() == 3
    cable = Product.objects.get(article="VVGNG-3X2.5")
    assert cable.unit.okei_code == "006" and cable.vat_rate == "22"
    assert Pack.objects.get(product=cable).factor == Decimal("100")
    assert Barcode.objects.filter(product=cable).count() == 2  # its own and the reel's
    retail = Price.objects.get(product=cable, price_list__code="retail").amount
    assert retail == Decimal("96.50")  # the slice's last price, not the older one the register also holds
    assert Price.objects.get(product=cable, price_list__code="dealer").amount == (
        retail * Decimal("0.8")).quantize(Decimal("0.01"))
    kit = Product.objects.get(article="KIT-FLAT-PANEL")
    assert kit.kind == "kit"
    assert {c.component.article: c.quantity for c in KitComponent.objects.filter(kit=kit)}["MVA20-1-016-C"] == 4
    assert Product.objects.get(article="SRV-EDU-EB2").vat_rate == "none"
    assert Product.objects.get(article="BK-SPR-EM").vat_rate == "10"
    assert Binding.objects.filter(backend=backend, object_id__in=Product.objects.values("pk")).count() == 305


def test_resync_unchanged_writes_nothing_and_a_1c_edit_is_taken(onec, backend):
    _sync(backend, "catalog")
    before = _writes()
    run = _sync(backend, "catalog")
    assert run.unchanged == Product.objects.count() and run.created == run.updated == 0
    assert _writes() == before
    cable = Product.objects.get(article="VVGNG-3X2.5")
    OneCClient(backend).update("Catalog_Номенклатура", cable.erp_id, {"Description": "Кабель ВВГнг 3х2,5 (новый)"})
    OneCClient(backend).update("Catalog_Номенклатура", Product.objects.get(article="NYM-3X1.5").erp_id,
                               {"DeletionMark": True})
    run = _sync(backend, "catalog")
    assert run.updated == 2 and run.created == 0
    cable.refresh_from_db()
    assert cable.name == "Кабель ВВГнг 3х2,5 (новый)"
    assert Product.objects.get(article="NYM-3X1.5").active is False  # marked for deletion: archived, kept


def test_stock_with_zeros_and_counterparties(backend):
    _sync(backend, "warehouses")
    _sync(backend, "catalog")
    _sync(backend, "stock")
    expected: dict[tuple[str, str], Decimal] = {}
    for row in COMPANY.stock:
        key = (row.product_article, row.warehouse_code)
        expected[key] = expected.get(key, Decimal(0)) + row.on_hand
    cable = Product.objects.get(article="VVGNG-3X2.5")
    for warehouse in Warehouse.objects.all():
        level = StockLevel.objects.filter(product=cable, warehouse=warehouse).first()
        on_hand = level.on_hand if level else Decimal(0)
        assert on_hand == expected.get((cable.article, warehouse.code), Decimal(0))
    # zero rows are present: every goods product has a row per warehouse (Balance tables omit zeros)
    assert StockLevel.objects.filter(batch__isnull=True).count() == 3 * Product.objects.filter(kind="goods").count()
    assert StockLevel.objects.filter(on_hand=0).count() >= sum(1 for q in expected.values() if q == 0)
    run = run_sync("counterparties", backend, full=True)
    # The demo holds two deliberate duplicates (the same person, the phone written differently): refused.
    assert run.status == SyncRun.Status.SUCCEEDED and run.failed == 2, run.details
    assert all("duplicate" in e for e in run.details["errors"])
    assert Counterparty.objects.count() == len(COMPANY.counterparties) - 2
    legal = next(c for c in COMPANY.counterparties if c.kind == "legal" and c.segment_code == "dealer")
    mine = Counterparty.objects.get(erp_id=legal.erp_id)
    assert (mine.inn, mine.kpp) == (legal.inn, legal.kpp)
    assert mine.segment.price_list.code == "dealer"  # the price type of the partner's agreement


def test_a_stock_page_of_one_warehouse_locks_that_warehouse_only(backend):
    """1C's stock comes one warehouse at a time: a page locks and reads its warehouse's rows of its products,
    not their rows in every warehouse again (five times the rows on a full sync of five warehouses)."""
    from django.test.utils import CaptureQueriesContext

    _sync(backend, "catalog")
    _sync(backend, "stock")
    with CaptureQueriesContext(connection) as ctx:
        run = _sync(backend, "stock")
    assert run.unchanged == StockLevel.objects.count()
    locks = [q["sql"] for q in ctx.captured_queries if "catalog_stocklevel" in q["sql"] and "FOR UPDATE" in q["sql"]]
    assert len(locks) >= Warehouse.objects.count()
    assert all('"catalog_stocklevel"."warehouse_id"' in sql.split(" WHERE ", 1)[1] for sql in locks)


def test_small_pages_of_prices_and_balances_lose_no_row(onec):
    """1C computes a virtual table (SliceLast, Balance) again for each $skip, in no fixed order unless asked:
    paged in the order of its dimensions, small pages land every price and every stock figure."""
    backend = make_backend(onec, page_size=40)
    _sync(backend, "catalog")
    _sync(backend, "stock")
    latest: dict[tuple[str, str], dict] = {}
    for row in entities(onec, "InformationRegister_ЦеныНоменклатуры"):
        key = (row["Номенклатура_Key"], row["ВидЦены_Key"])
        if key not in latest or latest[key]["Period"] <= row["Period"]:
            latest[key] = row
    ours = {(p.product.erp_id, p.price_list.erp_id): p.amount for p in Price.objects.select_related("product", "price_list")}
    assert ours == {key: Decimal(str(row["Цена"])) for key, row in latest.items()}
    on_hand: dict[tuple[str, str], Decimal] = {}
    for row in COMPANY.stock:
        key = (row.product_article, row.warehouse_code)
        on_hand[key] = on_hand.get(key, Decimal(0)) + row.on_hand
    levels = StockLevel.objects.select_related("product", "warehouse")
    assert len(levels) == 3 * Product.objects.filter(kind="goods").count()
    assert {(s.product.article, s.warehouse.code): s.on_hand for s in levels if s.on_hand} == {
        key: value for key, value in on_hand.items() if value}


def test_outage_mid_sync_fails_the_run_then_recovers(onec, backend):
    backend.settings.update(page_size=50, read_attempts=1)
    backend.save()
    _sync(backend, "warehouses")
    pages = []

    def progress(done, total=None):
        pages.append(done)
        if len(pages) == 2:
            onec.set_faults(down=True)

    with pytest.raises(RetryableError):
        run_sync("catalog", backend, full=True, progress=progress)
    run = SyncRun.objects.filter(backend=backend, kind="catalog").latest("pk")
    assert run.status == SyncRun.Status.FAILED and "503" in run.error
    onec.set_faults(down=False)
    assert _sync(backend, "catalog").status == SyncRun.Status.SUCCEEDED
    assert Product.objects.count() == 305
