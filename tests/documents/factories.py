"""Orders with lines, counterparties and products for the documents tests."""

from decimal import Decimal as D

from catalog.models import Product, Unit, VatRate
from counterparties.models import Counterparty
from documents.models import OurOrganization
from documents.supplier import Supplier
from documents.vat import line_amounts
from orders.models import Order, OrderLine


def make_unit(okei="796", short="шт") -> Unit:
    unit, _ = Unit.objects.get_or_create(okei_code=okei, defaults={"name": short, "short_name": short})
    return unit


def make_product(article: str, name: str, *, vat_rate: str = VatRate.VAT_22, unit: Unit | None = None) -> Product:
    return Product.objects.create(article=article, name=name, unit=unit or make_unit(), vat_rate=vat_rate)


def make_counterparty(**fields) -> Counterparty:
    values = {
        "kind": Counterparty.Kind.LEGAL,
        "name": "ООО «Ромашка»",
        "full_name": "Общество с ограниченной ответственностью «Ромашка»",
        "inn": "7707083893",
        "kpp": "773601001",
        "legal_address": "117997, г. Москва, ул. Вавилова, д. 19",
    }
    values.update(fields)
    return Counterparty.objects.create(**values)


def make_order(lines: list[tuple[str, str, str, str]] | None = None, *, counterparty=None, **fields) -> Order:
    """lines: (name, quantity, price, vat_rate[, discount]) with VAT-inclusive prices."""
    order = Order.objects.create(counterparty=counterparty, **fields)
    add_lines(order, lines or [])
    return order


def add_lines(order: Order, lines) -> Order:
    """Products and lines in bulk (a 500-line order stays quick to build)."""
    unit = make_unit()
    start = order.lines.count()
    specs = []
    for position, spec in enumerate(lines, start=start + 1):
        name, quantity, price, rate, *rest = spec
        discount = D(rest[0]) if rest else D("0")
        amounts = line_amounts(price=D(price), quantity=D(quantity), discount_percent=discount, vat_rate=rate)
        specs.append((position, name, D(quantity), D(price), discount, rate, amounts))
    products = Product.objects.bulk_create(
        Product(article=f"ART-{order.pk}-{position}", name=name, unit=unit, vat_rate=rate)
        for position, name, _q, _p, _d, rate, _a in specs
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, position=position, product=product, quantity=quantity, base_quantity=quantity,
                  price=price, discount_percent=discount, vat_rate=rate, total=amounts.total, vat_amount=amounts.vat)
        for product, (position, _n, quantity, price, discount, rate, amounts) in zip(products, specs, strict=True)
    )
    total = sum((a.total for *_, a in specs), order.total)
    vat = sum((a.vat for *_, a in specs), order.vat_total)
    Order.objects.filter(pk=order.pk).update(total=total, vat_total=vat)
    order.refresh_from_db()
    return order


# A clearly fictitious seller for the rendering tests (entered as staff requisites, never a code default).
SELLER = {
    "name": "ООО «Демо-Торг»",
    "inn": "7712345671",
    "kpp": "771201001",
    "ogrn": "1027700000001",
    "address": "123456, г. Москва, ул. Примерная, д. 1, офис 1",
    "phone": "+7 495 000-00-00",
    "bank_name": "АО «ДЕМО-БАНК», г. Москва",
    "bik": "044525000",
    "correspondent_account": "30101810400000000000",
    "account": "40702810000000000001",
    "director": "Иванов И. И.",
    "accountant": "Петрова П. П.",
}
SELLER_SUPPLIER = Supplier(**SELLER)


def make_our_organization(**fields) -> OurOrganization:
    """Staff-entered requisites, written as they are (the admin form validates; these tests render)."""
    return OurOrganization.objects.create(source=OurOrganization.Source.STAFF, **{**SELLER, **fields})
