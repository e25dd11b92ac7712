"""Per-line kopeck rounding and VAT extraction (22/122, 10/110, 5/105, 7/107, 0 %, без НДС)."""

from decimal import Decimal as D

import pytest

from documents.vat import LineAmounts, line_amounts, sum_amounts


def amounts(price, quantity="1", discount="0", rate="22", included=True):
    return line_amounts(
        price=D(price), quantity=D(quantity), discount_percent=D(discount), vat_rate=rate, vat_included=included
    )


@pytest.mark.parametrize(
    ("price", "rate", "vat"),
    [
        ("100.00", "22", "18.03"),  # 100 × 22/122 = 18.0327…
        ("122.00", "22", "22.00"),
        ("1000.00", "22", "180.33"),  # 180.3278…
        ("110.00", "10", "10.00"),
        ("99.99", "10", "9.09"),  # 9.0900…
        ("105.00", "5", "5.00"),
        ("1000.00", "5", "47.62"),  # 47.6190…
        ("107.00", "7", "7.00"),
        ("1000.00", "7", "65.42"),  # 65.4205…
        ("1000.00", "0", "0.00"),
        ("1000.00", "none", "0.00"),
    ],
)
def test_vat_is_extracted_from_the_inclusive_total(price, rate, vat):
    result = amounts(price, rate=rate)
    assert result == LineAmounts(total=D(price), vat=D(vat), net=D(price) - D(vat))


def test_line_total_is_rounded_half_up_to_kopecks():
    assert amounts("0.25", quantity="0.5", rate="none").total == D("0.13")  # 0.125 → 0.13, not banker's 0.12
    assert amounts("10.00", quantity="0.333", rate="none").total == D("3.33")
    assert amounts("1.005", rate="none").total == D("1.01")


def test_discount_applies_before_rounding_and_vat():
    result = amounts("99.99", quantity="3", discount="5")
    # 299.97 × 0.95 = 284.9715 → 284.97; VAT 284.97 × 22/122 = 51.388… → 51.39
    assert result == LineAmounts(total=D("284.97"), vat=D("51.39"), net=D("233.58"))
    assert amounts("500.00", discount="100").total == D("0.00")
    assert amounts("500.00", discount="12.5", rate="10") == LineAmounts(D("437.50"), D("39.77"), D("397.73"))


def test_document_vat_is_the_sum_of_rounded_line_vat_not_the_vat_of_the_total():
    lines = [amounts("10.00") for _ in range(3)]  # each 10 × 22/122 = 1.8032… → 1.80
    totals = sum_amounts(lines)
    assert totals == LineAmounts(total=D("30.00"), vat=D("5.40"), net=D("24.60"))
    # The grand total alone would give 30 × 22/122 = 5.4098… → 5.41: per-line rounding matters.
    assert amounts("30.00").vat == D("5.41")


def test_mixed_rates_sum_per_line():
    totals = sum_amounts([amounts("122.00"), amounts("110.00", rate="10"), amounts("50.00", rate="none")])
    assert totals == LineAmounts(total=D("282.00"), vat=D("32.00"), net=D("250.00"))


def test_vat_on_top_when_prices_exclude_vat():
    assert amounts("100.00", quantity="2", included=False) == LineAmounts(D("244.00"), D("44.00"), D("200.00"))
    assert amounts("33.33", included=False, rate="7") == LineAmounts(D("35.66"), D("2.33"), D("33.33"))
    assert amounts("100.00", included=False, rate="none") == LineAmounts(D("100.00"), D("0.00"), D("100.00"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"price": D("1"), "quantity": D("1"), "discount_percent": D("0"), "vat_rate": "20"}, "vat_rate"),
        ({"price": 1.5, "quantity": D("1"), "discount_percent": D("0"), "vat_rate": "22"}, "price"),
        ({"price": D("-1"), "quantity": D("1"), "discount_percent": D("0"), "vat_rate": "22"}, "price"),
        ({"price": D("1"), "quantity": D("-1"), "discount_percent": D("0"), "vat_rate": "22"}, "quantity"),
        ({"price": D("1"), "quantity": D("1"), "discount_percent": D("101"), "vat_rate": "22"}, "discount_percent"),
        ({"price": D("NaN"), "quantity": D("1"), "discount_percent": D("0"), "vat_rate": "22"}, "price"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        line_amounts(**kwargs)
