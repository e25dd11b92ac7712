from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integration.erp.moysklad import mappers
from integration.erp.types import ErpBatch


@pytest.mark.parametrize(
    ("kopecks", "roubles"),
    [
        (150000, "1500.00"),
        (150000.0, "1500.00"),
        (12345.999999, "123.46"),
        (0.5, "0.01"),
        (None, "0.00"),
        (1099.4999999, "10.99"),
        (33333.0, "333.33"),
    ],
)
def test_kopecks_become_exact_roubles(kopecks, roubles):
    assert mappers.roubles(kopecks) == Decimal(roubles)


def test_roubles_to_kopecks_round_half_up():
    assert mappers.kopecks(Decimal("10.005")) == 1001
    assert mappers.kopecks(Decimal("1500")) == 150000


def test_moscow_time_becomes_aware():
    value = mappers.moment("2026-03-01 12:30:45.123")
    assert value.utcoffset().total_seconds() == 3 * 3600
    assert value.astimezone(UTC) == datetime(2026, 3, 1, 9, 30, 45, 123000, tzinfo=UTC)
    assert mappers.moment("2026-03-01 12:30:45").second == 45
    assert (
        mappers.wire_moment(datetime(2026, 3, 1, 9, 30, 45, 123000, tzinfo=UTC)) == "2026-03-01 12:30:45.123"
    )
    with pytest.raises(mappers.MappingError, match="moment"):
        mappers.moment("01.03.2026")
    with pytest.raises(mappers.MappingError, match="naive"):
        mappers.wire_moment(datetime(2026, 3, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("vat", "enabled", "rate"),
    [
        (22, True, "22"),
        (10, True, "10"),
        (0, True, "0"),
        (0, False, "none"),
        (5, True, "5"),
        (7, True, "7"),
        (22, False, "none"),
    ],
)
def test_vat_fields_map_to_rates(vat, enabled, rate):
    assert mappers.vat_rate(vat, enabled) == rate
    if rate != "none":
        assert mappers.vat_fields(rate) == (vat, True)
    assert mappers.vat_fields("none") == (0, False)


def test_unknown_vat_rate_is_a_clear_error():
    with pytest.raises(mappers.MappingError, match="vat: unsupported rate 18%"):
        mappers.vat_rate(18, True)


def test_href_id_ignores_the_expand_query():
    href = "https://api.moysklad.ru/api/remap/1.2/entity/product/c02e3a5c-007e-11e6-9464-e4de00000006?expand=supplier"
    assert mappers.href_id(href) == "c02e3a5c-007e-11e6-9464-e4de00000006"


def _meta(kind, entity_id):
    return {"meta": {"href": f"https://x/api/remap/1.2/entity/{kind}/{entity_id}", "type": kind}}


def test_product_row_maps_prices_packs_barcodes_vat():
    row = {
        **_meta("product", "p1"),
        "id": "p1",
        "name": "Кабель",
        "article": "VVG-3X2.5",
        "code": "c1",
        "updated": "2026-01-02 03:04:05.006",
        "archived": False,
        "vat": 0,
        "vatEnabled": False,
        "uom": _meta("uom", "u1"),
        "productFolder": _meta("productfolder", "f1"),
        "salePrices": [{"value": 9650.0, "priceType": {**_meta("pricetype", "t1"), "id": "t1"}}],
        "barcodes": [{"ean13": "4607000000011"}, {"code128": "ABC"}],
        "packs": [
            {
                "id": "k1",
                "uom": _meta("uom", "u2"),
                "quantity": 100.0,
                "barcodes": [{"ean13": "4608000000018"}],
            }
        ],
    }
    product = mappers.product(row)
    assert product.kind == "goods" and product.vat_rate == "none"
    assert product.prices[0].amount == Decimal("96.50") and product.prices[0].price_list_erp_id == "t1"
    assert [b.kind for b in product.barcodes] == ["ean13", "code128"]
    assert product.packs[0].factor == Decimal("100.000") and product.packs[0].unit_erp_id == "u2"
    assert product.category_erp_id == "f1" and product.unit_erp_id == "u1"
    assert product.updated_at.tzinfo is not None


def test_bundle_needs_expanded_components():
    row = {
        **_meta("bundle", "b1"),
        "id": "b1",
        "name": "Комплект",
        "vat": 22,
        "vatEnabled": True,
        "components": {"meta": {"size": 1}},
    }
    with pytest.raises(mappers.MappingError, match="components are not expanded"):
        mappers.product(row)
    row["components"]["rows"] = [{"assortment": _meta("product", "p1"), "quantity": 2}]
    kit = mappers.product(row)
    assert kit.kind == "kit" and kit.components[0].component_erp_id == "p1"
    assert kit.components[0].quantity == Decimal("2")


def test_stock_row_maps_stock_reserve_in_transit_and_batches():
    row = {
        "meta": {"href": "https://x/entity/consignment/c1?expand=product.supplier", "type": "consignment"},
        "stockByStore": [{**_meta("store", "s1"), "stock": 10.5, "reserve": 2, "inTransit": 3}],
    }
    rows = mappers.stock_bystore_row(row, {"c1": ErpBatch("c1", "p1", "B-1")})
    assert rows[0].product_erp_id == "p1" and rows[0].batch_erp_id == "c1"
    assert (rows[0].on_hand, rows[0].reserved, rows[0].expected) == (
        Decimal("10.5"),
        Decimal("2"),
        Decimal("3"),
    )
    with pytest.raises(mappers.MappingError, match="consignment c2 is unknown"):
        mappers.stock_bystore_row(
            {**row, "meta": {"href": "https://x/entity/consignment/c2", "type": "consignment"}}, {}
        )


def test_moysklad_adapter_follows_the_erp_protocol():
    from integration.erp.moysklad.adapter import MoySkladAdapter
    from integration.erp.protocol import ErpAdapter

    missing = [
        name for name in dir(ErpAdapter) if not name.startswith("_") and not hasattr(MoySkladAdapter, name)
    ]
    assert missing == []
