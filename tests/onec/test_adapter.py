"""The adapter against the sandbox: reads as typed records, orders posted with their reserve, documents back."""

from decimal import Decimal
from urllib.parse import quote

import pytest

from integration.erp.onec.adapter import OneCAdapter
from integration.erp.types import ErpCounterparty, OrderPush, OrderPushLine
from integration.errors import RetryableError
from integration.sandbox import demo_company as demo
from tests.onec.conftest import entities

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]
COMPANY = demo.demo_company()


def _product(article: str) -> demo.DemoProduct:
    return next(p for p in COMPANY.products if p.article == article)


def _goods_in_stock():
    stock = next(s for s in COMPANY.stock if s.on_hand - s.reserved > 10 and s.batch_number is None)
    warehouse = next(w for w in COMPANY.warehouses if w.code == stock.warehouse_code)
    return _product(stock.product_article), warehouse


def _free(onec, product_id: str, warehouse_id: str) -> Decimal:
    path = "onec/balance/" + quote("AccumulationRegister_СвободныеОстатки") + "?dimensions=" + quote("Номенклатура,Склад")
    rows = onec.control(path, method="GET")
    row = next((r for r in rows if r["Номенклатура_Key"] == product_id and r["Склад_Key"] == warehouse_id), None)
    return Decimal(str(row["ВРезервеСоСкладаBalance"])) if row else Decimal(0)


def test_catalog_reads_as_typed_records(backend):
    adapter = OneCAdapter(backend)
    products = [p for page in adapter.iter_product_pages() for p in page]
    kits = [p for page in adapter.iter_bundles() for p in page]
    demo_goods = [p for p in COMPANY.products if p.kind != "kit"]
    assert len(products) == len(demo_goods) and len(kits) == len(COMPANY.products) - len(demo_goods)
    with_packs = next(p for p in demo_goods if p.packs and p.barcodes)
    read = next(p for p in products if p.erp_id == with_packs.erp_id)
    assert read.article == with_packs.article and read.vat_rate == with_packs.vat_rate
    assert {b.value for b in read.barcodes} == set(with_packs.barcodes)
    assert sorted(pk.factor for pk in read.packs) == sorted(pk.factor for pk in with_packs.packs)
    # SliceLast: the current price of each price type, not the older one.
    expected = {demo.erp_id("price_list", code): amount for code, amount in with_packs.prices}
    assert {pr.price_list_erp_id: pr.amount for pr in read.prices} == expected
    kit = kits[0]
    assert kit.kind == "kit" and kit.components
    assert {u.okei_code for u in adapter.iter_units()} == {u.okei_code for u in COMPANY.units}
    assert {w.code for w in adapter.iter_warehouses()} == {w.code for w in COMPANY.warehouses}
    assert {pl.code for pl in adapter.iter_price_lists()} == {pl.code for pl in COMPANY.price_lists}


def test_stock_and_counterparties(backend):
    adapter = OneCAdapter(backend)
    rows = {(r.product_erp_id, r.warehouse_erp_id): r for page in adapter.iter_stock() for r in page}
    product, warehouse = _goods_in_stock()
    seeded = [s for s in COMPANY.stock if s.product_article == product.article and s.warehouse_code == warehouse.code]
    row = rows[(product.erp_id, warehouse.erp_id)]
    assert row.on_hand == sum(s.on_hand for s in seeded) and row.reserved == sum(s.reserved for s in seeded)
    fresh = adapter.stock_for([product.erp_id])
    assert {c.warehouse_erp_id for c in fresh} == {w.erp_id for w in COMPANY.warehouses}
    counterparties = [c for page in adapter.iter_counterparties() for c in page]
    legal = next(c for c in COMPANY.counterparties if c.kind == "legal")
    read = next(c for c in counterparties if c.erp_id == legal.erp_id)
    assert (read.inn, read.kpp, read.kind) == (legal.inn, legal.kpp, "legal")
    found = adapter.find_counterparty(ErpCounterparty(name="x", kind="legal", inn=legal.inn, kpp=legal.kpp))
    assert found is not None and found.erp_id == legal.erp_id


def _push(product, warehouse, counterparty_id: str, key: str, quantity: Decimal = Decimal(3)) -> OrderPush:
    price = dict(product.prices)["retail"]
    return OrderPush(key=key, counterparty_erp_id=counterparty_id, warehouse_erp_id=warehouse.erp_id,
                     comment="amoCRM сделка 1", lines=(OrderPushLine(
                         product_erp_id=product.erp_id, kind="goods", quantity=quantity, price=price,
                         vat_rate=product.vat_rate, reserve=quantity),))


def test_order_reserves_exactly_once_after_a_lost_response(onec, backend):
    adapter = OneCAdapter(backend)
    product, warehouse = _goods_in_stock()
    before = _free(onec, product.erp_id, warehouse.erp_id)
    client = adapter.ensure_counterparty(ErpCounterparty(name="ИП Новиков", kind="entrepreneur", inn="500100732259"))
    push = _push(product, warehouse, client.erp_id, "7d7f3f0e-0000-4000-8000-000000000001")
    onec.set_faults(drop_responses=1, path_regex="Document_")
    with pytest.raises(RetryableError):
        adapter.upsert_order(push)  # 1C created the order; we never heard
    order = adapter.upsert_order(push)  # the retry finds it by our key
    orders = entities(onec, "Document_ЗаказКлиента", f"НомерПоДаннымКлиента eq '{push.key}'")
    assert len(orders) == 1 and orders[0]["Posted"] is True and orders[0]["Ref_Key"] == order.erp_id
    assert _free(onec, product.erp_id, warehouse.erp_id) - before == Decimal(3)
    assert order.lines[0].reserved == Decimal(3) and order.external_code == push.key
    partners = entities(onec, "Catalog_Партнеры", "Description eq 'ИП Новиков'")
    assert len(partners) == 1
    again = adapter.upsert_order(push)  # a redelivery changes nothing
    assert again.erp_id == order.erp_id and _free(onec, product.erp_id, warehouse.erp_id) - before == Decimal(3)

    cancelled = adapter.cancel_order(order.erp_id)
    assert cancelled.state_type == "Unsuccessful"
    assert _free(onec, product.erp_id, warehouse.erp_id) == before


def test_invoice_shipment_and_payment_come_back(onec, backend):
    adapter = OneCAdapter(backend)
    product, warehouse = _goods_in_stock()
    legal = next(c for c in COMPANY.counterparties if c.kind == "legal")
    order = adapter.upsert_order(_push(product, warehouse, legal.erp_id, "7d7f3f0e-0000-4000-8000-000000000002"))
    invoice = adapter.create_invoice(order.erp_id)
    assert adapter.create_invoice(order.erp_id).erp_id == invoice.erp_id  # found, not doubled
    assert invoice.number and invoice.total == order.total and invoice.order_erp_id == order.erp_id
    onec.control("onec/ship", {"order": order.erp_id})
    onec.control("onec/pay", {"order": order.erp_id})
    shipments = [s for s in adapter.iter_shipments() if s.order_erp_id == order.erp_id]
    payments = [p for p in adapter.iter_payments() if p.order_erp_id == order.erp_id]
    assert len(shipments) == 1 and shipments[0].lines[0].quantity == Decimal(3)
    assert len(payments) == 1 and payments[0].amount == order.total
    shipped = adapter.get_order(order.erp_id)
    assert shipped.paid_total == order.total and shipped.lines[0].shipped == Decimal(3)
    assert shipped.lines[0].reserved == 0


def test_one_product_is_read_again_with_its_children(backend):
    product = next(p for p in COMPANY.products if p.packs and p.barcodes and p.kind == "goods")
    read = OneCAdapter(backend).fetch_product("goods", product.erp_id)
    assert (read.erp_id, read.article, read.kind) == (product.erp_id, product.article, "goods")
    assert {b.value for b in read.barcodes} == set(product.barcodes) and len(read.packs) == len(product.packs)
    assert {pr.amount for pr in read.prices} == {amount for _code, amount in product.prices}
    kit = next(p for p in COMPANY.products if p.kind == "kit")
    assert len(OneCAdapter(backend).fetch_product("kit", kit.erp_id).components) == len(kit.components)
