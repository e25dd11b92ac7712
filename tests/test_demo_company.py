import tracemalloc
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from counterparties.validators import normalize_email, normalize_phone, validate_requisites
from integration.sandbox.demo_company import (
    DemoProduct,
    DemoStock,
    demo_company,
    ean13,
    generate_scale,
)


@pytest.fixture(scope="module")
def company():
    return demo_company()


def test_shape_and_size(company):
    assert 280 <= len(company.products) <= 330
    assert [w.name for w in company.warehouses] == ["Москва", "Санкт-Петербург", "Екатеринбург"]
    assert [p.name for p in company.price_lists] == ["Розничная", "Оптовая", "Дилерская"]
    assert {s.name: s.price_list_code for s in company.segments} == {
        "Розница": "retail", "Опт": "wholesale", "Дилеры": "dealer"}
    kinds = Counter(c.kind for c in company.counterparties)
    assert kinds["legal"] == 30 and kinds["entrepreneur"] == 10 and kinds["individual"] == 12
    assert len({c.name for c in company.categories}) >= 6
    assert {u.okei_code for u in company.units} >= {"796", "006", "166", "778"}


def test_deterministic():
    assert demo_company.__wrapped__() == demo_company.__wrapped__()


def test_products_are_consistent(company):
    articles = {p.article for p in company.products}
    assert len(articles) == len(company.products)
    assert len({p.erp_id for p in company.products}) == len(company.products)
    barcodes = [b for p in company.products for b in p.barcodes] + [k.barcode for p in company.products for k in p.packs]
    assert len(barcodes) == len(set(barcodes))
    assert all(len(b) == 13 and ean13(b[:12]) == b for b in barcodes)
    vat = Counter(p.vat_rate for p in company.products)
    assert vat["22"] > 250 and vat["10"] and vat["0"] and vat["none"]
    kits = [p for p in company.products if p.kind == "kit"]
    assert len(kits) >= 3 and all(len(k.components) >= 2 for k in kits)
    assert 3 <= len(next(k for k in kits if k.name == "Комплект электрика").components) <= 4
    assert all(a in articles for k in kits for a, _q in k.components)
    assert any(p.kind == "service" for p in company.products)
    tracked = [p for p in company.products if p.tracking == "batch"]
    assert tracked and all(2 <= len(p.batches) <= 3 for p in tracked)
    assert any(k.factor == Decimal("100") and k.unit_okei == "736" for p in company.products for k in p.packs)
    for p in company.products:
        prices = dict(p.prices)
        assert prices["dealer"] < prices["wholesale"] < prices["retail"], p.article


def test_stock_has_zero_low_and_expected_rows_and_batches(company):
    goods = {p.article for p in company.products if p.kind == "goods"}
    tracked = {p.article for p in company.products if p.tracking == "batch"}
    assert {s.product_article for s in company.stock} <= goods
    assert any(s.on_hand == 0 for s in company.stock)
    assert any(0 < s.on_hand <= 5 for s in company.stock)
    assert any(s.expected > 0 for s in company.stock)
    assert all((s.batch_number is not None) == (s.product_article in tracked) for s in company.stock)
    assert all(s.reserved <= s.on_hand for s in company.stock)


def test_every_counterparty_passes_the_validators(company):
    for c in company.counterparties:
        try:
            validate_requisites(c.kind, inn=c.inn, kpp=c.kpp, ogrn=c.ogrn, has_contact=bool(c.phones or c.emails))
        except ValidationError as exc:  # pragma: no cover - the message says which one
            pytest.fail(f"{c.name}: {exc}")
        for phone in c.phones:
            normalize_phone(phone)
        for email in c.emails:
            normalize_email(email)
    assert any(c.ogrn == "304774000000050" for c in company.counterparties)


def test_deliberate_duplicates_and_a_branch(company):
    individuals = [c for c in company.counterparties if c.kind == "individual"]
    numbers = Counter(normalize_phone(p) for c in individuals for p in c.phones)
    assert sum(1 for n in numbers.values() if n == 2) == 2
    legal = Counter(c.inn for c in company.counterparties if c.kind == "legal")
    assert list(legal.values()).count(2) == 1


def test_generate_scale_streams_lazily():
    records = generate_scale(50, warehouses=4, price_lists=4)
    products = stock = 0
    for record in records:
        if isinstance(record, DemoProduct):
            products += 1
            assert len(record.prices) == 4
        elif isinstance(record, DemoStock):
            stock += 1
    assert products == 50 and stock >= 50 * 4
    tracemalloc.start()
    count = sum(1 for r in generate_scale(3000) if isinstance(r, DemoProduct))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 3000
    assert peak < 2 * 1024 * 1024  # bounded: nothing accumulates per product
