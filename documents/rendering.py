"""PDF rendering of счёт, УПД and ТОРГ-12 with weasyprint, from templates/documents/.

Used when the ERP gives no PDF, and for a quick invoice (an unsaved Document of an order). The forms
are Russian statutory/paper forms, so their text is Russian and not translated. Without our requisites
(or, for an invoice, without our bank account) rendering raises `MissingRequisites`.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import segno
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from catalog.models import VatRate

from .models import Document
from .supplier import Supplier, get_supplier
from .vat import LineAmounts, sum_amounts
from .words import amount_in_words

TEMPLATES = {
    Document.Kind.INVOICE: "documents/invoice.html",
    Document.Kind.UPD: "documents/upd.html",
    Document.Kind.TORG12: "documents/torg12.html",
    Document.Kind.RETURN: "documents/torg12.html",
    Document.Kind.QUOTE: "documents/quote.html",
}
MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)
CURRENCIES = {"RUB": ("российский рубль", "643"), "USD": ("доллар США", "840"), "EUR": ("евро", "978")}
NBSP = "\u00a0"


def format_money(value: Decimal) -> str:
    """1234567.5 → "1 234 567,50" (non-breaking spaces)."""
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):.2f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{NBSP.join(groups)},{frac}"


def format_quantity(value: Decimal) -> str:
    """3.000 → "3", 1.250 → "1,25"."""
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def format_date(value: date) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year} г."


def vat_label(vat_rate: str) -> str:
    return "без НДС" if vat_rate == VatRate.NONE else f"{vat_rate}%"


@dataclass(frozen=True)
class RenderedLine:
    number: int
    name: str
    article: str
    unit: str
    okei: str
    quantity: str
    price: str  # per unit, as agreed (VAT included when prices include VAT)
    price_net: str  # per unit without VAT (УПД column 4, ТОРГ-12 column 11)
    discount: str
    vat_rate: str
    vat: str  # "без НДС" when there is no VAT
    net: str
    total: str
    availability: str = ""  # a quote: what can be shipped of this line now


@dataclass(frozen=True)
class VatTotal:
    label: str  # "22 %"
    amount: str


@dataclass(frozen=True)
class DocumentTotals:
    total: Decimal
    vat: Decimal
    net: Decimal
    count: int
    vat_by_rate: list[VatTotal]
    without_vat: bool  # every line is "без НДС"


def order_line_amounts(order) -> list[tuple[object, LineAmounts]]:
    """The order's lines with our stored, per-line rounded amounts."""
    lines = order.lines.select_related("product__unit", "pack__unit").order_by("position", "pk")
    return [(line, LineAmounts(total=line.total, vat=line.vat_amount, net=line.total - line.vat_amount)) for line in lines]


def compute_totals(amounts: list[tuple[object, LineAmounts]]) -> DocumentTotals:
    summed = sum_amounts(a for _, a in amounts)
    by_rate: dict[str, Decimal] = {}
    for line, a in amounts:
        if line.vat_rate != VatRate.NONE:
            by_rate[line.vat_rate] = by_rate.get(line.vat_rate, Decimal("0.00")) + a.vat
    order = [rate for rate in VatRate.values if rate in by_rate]
    return DocumentTotals(
        total=summed.total,
        vat=summed.vat,
        net=summed.net,
        count=len(amounts),
        vat_by_rate=[VatTotal(f"{rate}{NBSP}%", format_money(by_rate[rate])) for rate in order],
        without_vat=not by_rate,
    )


def availability_labels(lines) -> dict[int, str]:
    """A quote's availability column, per line id: "в наличии", "в наличии N ед." or "под заказ" — the stock
    managers may sell now (orders.availability) at the line's warehouse plus what this order holds itself, in the
    line's unit."""
    from django.db.models import Sum

    from catalog.availability import in_pack
    from orders.availability import ACTIVE, sellable_availability
    from orders.models import Reservation

    stock = sellable_availability([line.product_id for line in lines])
    own = dict(Reservation.objects.filter(line__in=lines, status__in=ACTIVE).values("line_id")
               .annotate(held=Sum("quantity")).values_list("line_id", "held"))
    labels = {}
    for line in lines:
        figures = stock.get(line.product_id)
        if figures is None:
            available = Decimal("0")
        elif line.warehouse_id is not None:
            found = figures.by_warehouse.get(line.warehouse_id)
            available = found.available if found is not None else Decimal("0")
        else:
            available = figures.total.available
        available += own.get(line.pk) or Decimal("0")
        unit = line.pack.unit if line.pack_id else line.product.unit
        in_units = in_pack(max(available, Decimal("0")), line.pack if line.pack_id else None)
        if available >= line.base_quantity:
            labels[line.pk] = "в наличии"
        elif in_units > 0:
            labels[line.pk] = f"в наличии {format_quantity(in_units)} {unit.short_name}"
        else:
            labels[line.pk] = "под заказ"
    return labels


def _render_line(number: int, line, amounts: LineAmounts, availability: str = "") -> RenderedLine:
    unit = line.pack.unit if line.pack_id else line.product.unit
    no_vat = line.vat_rate == VatRate.NONE
    price_net = (amounts.net / line.quantity).quantize(Decimal("0.01")) if line.quantity else Decimal("0.00")
    return RenderedLine(
        number=number,
        name=line.product.name,
        article=line.product.article,
        unit=unit.short_name,
        okei=unit.okei_code,
        quantity=format_quantity(line.quantity),
        price=format_money(line.price),
        price_net=format_money(price_net),
        discount=format_quantity(line.discount_percent) if line.discount_percent else "",
        vat_rate=vat_label(line.vat_rate),
        vat="без НДС" if no_vat else format_money(amounts.vat),
        net=format_money(amounts.net),
        total=format_money(amounts.total),
        availability=availability,
    )


def payment_qr_payload(supplier: Supplier, *, amount: Decimal, purpose: str) -> str:
    """ГОСТ Р 56042-2014 payment string, UTF-8 ("ST00012"), sum in kopecks."""

    def clean(value: str) -> str:
        return " ".join(value.replace("|", " ").split())

    fields = [
        ("Name", supplier.name),
        ("PersonalAcc", supplier.account),
        ("BankName", supplier.bank_name),
        ("BIC", supplier.bik),
        ("CorrespAcc", supplier.correspondent_account or "0"),
        ("PayeeINN", supplier.inn),
        ("KPP", supplier.kpp),
        ("Purpose", purpose),
        ("Sum", str(int((amount * 100).to_integral_value()))),
    ]
    return "ST00012|" + "|".join(f"{key}={clean(value)}" for key, value in fields if value)


def payment_qr_svg(payload: str) -> SafeString:
    qr = segno.make(payload, encoding="utf-8", error="m", micro=False)
    return format_html('<div class="qr">{}</div>', SafeString(qr.svg_inline(scale=0.6, unit="mm", border=2)))


def payment_purpose(number: str, issued_on: date, totals: DocumentTotals) -> str:
    vat = (
        "Без налога (НДС)"
        if totals.without_vat
        else "В т.ч. НДС " + ", ".join(f"{v.label} — {v.amount}" for v in totals.vat_by_rate)
    )
    return f"Оплата по счёту № {number} от {issued_on:%d.%m.%Y}. {vat}"


def build_context(document: Document, *, supplier: Supplier | None = None) -> dict:
    order = document.order
    supplier = supplier or get_supplier(needs_bank=document.kind == Document.Kind.INVOICE)
    issued_on = document.issued_on or timezone.localdate()
    number = document.number or order.erp_number or str(order.pk)
    if document.shipment_id:
        from .returns import movement_line_amounts

        amounts = movement_line_amounts(document.shipment)  # what left or came back, not the whole order
    else:
        amounts = order_line_amounts(order)
    totals = compute_totals(amounts)
    currency_name, currency_code = CURRENCIES.get(order.currency, (order.currency, ""))
    quote = document.kind == Document.Kind.QUOTE
    availability = availability_labels([line for line, _ in amounts]) if quote else {}
    context = {
        "document": document,
        "kind": document.kind,
        "number": number,
        "date": format_date(issued_on),
        "date_short": f"{issued_on:%d.%m.%Y}",
        "order": order,
        "supplier": supplier,
        "buyer": order.counterparty,
        "delivery_address": order.delivery_address,
        "lines": [_render_line(n, line, a, availability.get(line.pk, ""))
                  for n, (line, a) in enumerate(amounts, start=1)],
        "valid_until": format_date(document.valid_until) if quote and document.valid_until else "",
        "has_discount": any(line.discount_percent for line, _ in amounts),
        "totals": totals,
        "total": format_money(totals.total),
        "vat_total": format_money(totals.vat),
        "net_total": format_money(totals.net),
        "amount_in_words": amount_in_words(totals.total, order.currency),
        "currency_name": currency_name,
        "currency_code": currency_code,
        "upd_status": document.upd_status or 1,
        "payments": list(order.payments.order_by("paid_at")) if order.pk else [],
        "qr": None,
    }
    if document.kind == Document.Kind.INVOICE and supplier.has_bank and order.currency == "RUB":
        payload = payment_qr_payload(
            supplier, amount=totals.total, purpose=payment_purpose(number, issued_on, totals)
        )
        context["qr_payload"] = payload
        context["qr"] = payment_qr_svg(payload)
    return context


def render_html(document: Document, *, supplier: Supplier | None = None) -> str:
    return render_to_string(TEMPLATES[document.kind], build_context(document, supplier=supplier))


def render_quick_invoice(order) -> bytes:
    """An invoice of the order as it stands, rendered here without asking the ERP (nothing is stored)."""
    return render_pdf(Document(order=order, kind=Document.Kind.INVOICE))


def render_pdf(document: Document, *, supplier: Supplier | None = None) -> bytes:
    from weasyprint import HTML  # heavy import (Pango), only when a PDF is really made

    html = render_html(document, supplier=supplier)
    return HTML(string=html, base_url=None).write_pdf()
