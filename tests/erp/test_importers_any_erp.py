"""The importers serve any ERP registered with the connector registry: a kind registered here (its adapter
gives typed records, as every adapter does) gets the catalog, stock and organization syncs without a line of
importer code of its own; a row its adapter could not map is counted as a failure with the reason."""

from decimal import Decimal

import pytest

from catalog.models import KitComponent, Price, Product, StockLevel
from documents.models import OurOrganization
from integration import connectors, syncs
from integration.erp.importers.registration import register_syncs
from integration.erp.types import (
    ErpBarcode,
    ErpCategory,
    ErpKitComponent,
    ErpOrganization,
    ErpPrice,
    ErpPriceList,
    ErpProduct,
    ErpStockRow,
    ErpUnit,
    ErpWarehouse,
    RecordPage,
)
from integration.models import Backend

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
KIND = "test_erp"


def product(erp_id: str, article: str, *, kind: str = "goods", price: str = "100.00", components=()) -> ErpProduct:
    return ErpProduct(
        erp_id=erp_id, article=article, name=f"Товар {article}", kind=kind, unit_erp_id="u-pcs", vat_rate="22",
        category_erp_id="c-tools", barcodes=(ErpBarcode(f"46000000{erp_id[-5:]}"),) if kind == "goods" else (),
        prices=(ErpPrice("pl-retail", Decimal(price)),), components=tuple(components),
    )


class TypedErp:
    """An ERP that holds its records in memory and gives them as the protocol's typed records."""

    def __init__(self, backend):
        self.backend = backend

    def iter_units(self):
        yield ErpUnit("u-pcs", "796", "штука", "шт")

    def iter_categories(self):
        yield ErpCategory("c-tools", "Инструмент")

    def iter_price_lists(self):
        yield ErpPriceList("pl-retail", "Розничная", "retail")

    def iter_warehouses(self):
        yield ErpWarehouse("w-main", "Основной склад", code="main")

    def iter_product_pages(self, *, since=None, on_size=None):
        yield RecordPage([product("p-00001", "DR-1"), product("p-00002", "SW-2", price="250.50")],
                         rejected=["product p-00003: unit u-box is unknown"])

    def iter_bundles(self, *, since=None, on_size=None):
        yield [product("k-00001", "KIT-1", kind="kit", price="300.00",
                       components=[ErpKitComponent("p-00001", Decimal("2"))])]

    def iter_batches(self):
        return iter(())

    def iter_stock(self):
        yield [ErpStockRow("p-00001", "w-main", Decimal("7"), Decimal("1"), Decimal("0")),
               ErpStockRow("p-00002", "w-main", Decimal("0"), Decimal("0"), Decimal("3"))]

    def fetch_organization(self):
        return ErpOrganization(erp_id="org-1", name="ООО «Тестовая»", inn="7707083893", kpp="770701001")


@pytest.fixture
def erp(db):
    connectors.register(connectors.Connector(
        kind=KIND, role=connectors.Role.ERP, adapter=TypedErp,
        install=lambda: register_syncs(KIND, ("catalog", "stock", "organization")),
    ))
    yield Backend.objects.create(name="other-erp", kind=KIND, base_url="https://erp.example.test/")
    connectors.unregister(KIND)


def test_catalog_and_stock_of_another_erp_through_the_same_importers(erp):
    catalog = syncs.run_sync("catalog", erp)
    assert (catalog.status, catalog.created, catalog.failed) == ("succeeded", 3, 1)
    assert catalog.details["errors"] == ["product p-00003: unit u-box is unknown"]
    drill, saw, kit = (Product.objects.get(erp_id=e) for e in ("p-00001", "p-00002", "k-00001"))
    assert (drill.article, drill.unit.okei_code, drill.category.name) == ("DR-1", "796", "Инструмент")
    assert Price.objects.get(product=saw).amount == Decimal("250.50")
    assert KitComponent.objects.get(kit=kit).component == drill and kit.kind == "kit"

    stock = syncs.run_sync("stock", erp)
    assert stock.status == "succeeded"
    levels = {lvl.product.article: (lvl.on_hand, lvl.reserved, lvl.expected) for lvl in StockLevel.objects.all()}
    assert levels == {"DR-1": (7, 1, 0), "SW-2": (0, 0, 3)}
    assert Backend.objects.get(pk=erp.pk).cursors == {}  # no incremental cursor declared: every run reads all

    again = syncs.run_sync("catalog", erp)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_organization_of_another_erp(erp):
    run = syncs.run_sync("organization", erp)
    assert run.status == "succeeded"
    ours = OurOrganization.objects.get(backend=erp)
    assert (ours.name, ours.inn, ours.kpp) == ("ООО «Тестовая»", "7707083893", "770701001")


def test_a_kind_without_a_registered_sync_is_refused(erp):
    with pytest.raises(syncs.UnknownSyncKind):
        syncs.run_sync("counterparties", erp)
