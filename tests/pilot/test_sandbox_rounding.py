"""Found by the pilot: an invoice differed from the ERP's by one kopeck. The MoySklad sandbox rounded line sums
with Python's round() on floats (half to even, with float noise); MoySklad and the paper forms round half up,
as the platform does (documents.vat.round_money)."""

import pytest

from tests.erp.conftest import entities, ms, ms_sandbox, raw  # noqa: F401 - fixtures

pytestmark = pytest.mark.sandbox


def test_order_sums_round_half_up_to_kopecks(ms):  # noqa: F811
    _, _, org = raw(ms, "GET", "/entity/organization")
    _, _, agents = raw(ms, "GET", "/entity/counterparty?limit=1")
    _, _, products = raw(ms, "GET", "/entity/product?limit=1")
    product = products["rows"][0]
    # 3 × 10.10 ₽ less 5 % = 28.785 ₽ → 28.79 ₽ (half up); round() on floats gave 28.78 ₽
    body = {"organization": {"meta": org["rows"][0]["meta"]}, "agent": {"meta": agents["rows"][0]["meta"]},
            "positions": [{"assortment": {"meta": product["meta"]}, "quantity": 3, "price": 1010, "discount": 5,
                           "vat": 0, "vatEnabled": False}]}
    status, _, order = raw(ms, "POST", "/entity/customerorder", body=body)
    assert status == 200, order
    assert order["sum"] == 2879
