"""Amount in words (ru): Decimal in, roubles in words, kopecks in digits."""

from decimal import Decimal as D

import pytest

from documents.words import amount_in_words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "Ноль рублей 00 копеек"),
        ("0.01", "Ноль рублей 01 копейка"),
        ("1", "Один рубль 00 копеек"),
        ("2", "Два рубля 00 копеек"),
        ("5", "Пять рублей 00 копеек"),
        ("11", "Одиннадцать рублей 00 копеек"),
        ("21", "Двадцать один рубль 00 копеек"),  # an int 21 would be read as 21 kopecks
        ("21.21", "Двадцать один рубль 21 копейка"),
        ("101.50", "Сто один рубль 50 копеек"),
        ("1000", "Одна тысяча рублей 00 копеек"),
        ("2000.02", "Две тысячи рублей 02 копейки"),
        ("1234.56", "Одна тысяча двести тридцать четыре рубля 56 копеек"),
        ("1000000", "Один миллион рублей 00 копеек"),
        (
            "1234567.89",
            "Один миллион двести тридцать четыре тысячи пятьсот шестьдесят семь рублей 89 копеек",
        ),
        ("0.005", "Ноль рублей 01 копейка"),  # rounded half-up to kopecks first
    ],
)
def test_vectors(amount, words):
    assert amount_in_words(D(amount)) == words


def test_other_currency():
    assert amount_in_words(D("21.05"), "USD") == "Двадцать один доллар 05 центов"


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [(21, "RUB", "amount"), (21.0, "RUB", "amount"), (D("-1"), "RUB", "amount"), (D("1"), "XXX", "currency")],
)
def test_bad_input(amount, currency, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        amount_in_words(amount, currency)
