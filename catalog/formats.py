"""Numbers and money as Russian users read them: "1 234,50 ₽" (grouping and decimal comma by locale)."""

from decimal import Decimal

from django.utils.formats import number_format

CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥", "KZT": "₸", "BYN": "Br"}


def format_quantity(value: Decimal | None) -> str:
    if value is None:
        return "—"
    """Trailing zeros dropped: 1 500, 12,5."""
    exponent = value.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return number_format(value, decimals, force_grouping=True)


def format_money(amount: Decimal | None, currency: str = "RUB") -> str:
    if amount is None:
        return "—"
    return f"{number_format(amount, 2, force_grouping=True)}\u00a0{CURRENCY_SIGNS.get(currency, currency)}"
