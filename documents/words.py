"""Amounts in words for documents: "Одна тысяча двести тридцать четыре рубля 56 копеек"."""

from decimal import Decimal

from num2words import num2words

from .vat import round_money

# Currencies num2words spells in Russian; others are refused rather than misnamed.
SUPPORTED_CURRENCIES = frozenset({"RUB", "USD", "EUR", "KZT", "UAH", "BYN"})


def amount_in_words(amount: Decimal, currency: str = "RUB") -> str:
    """Roubles in words, kopecks in digits, first letter capitalised.

    Takes a Decimal only: num2words reads an int as kopecks (21 → "ноль рублей, двадцать одна копейка").
    """
    if not isinstance(amount, Decimal):
        raise ValueError(f"amount: expected a Decimal, got {type(amount).__name__}")
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"amount: must be a non-negative number, got {amount}")
    if currency not in SUPPORTED_CURRENCIES:
        raise ValueError(f"currency: {currency!r} cannot be spelled in Russian")
    text = num2words(round_money(amount), lang="ru", to="currency", currency=currency, cents=False, separator="")
    return text[:1].upper() + text[1:]
