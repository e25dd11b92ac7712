"""PDFs rendered here: Cyrillic text extractable, totals, VAT lines, amount in words, УПД status, QR."""

import io
from decimal import Decimal as D

import pytest
from pypdf import PdfReader

from catalog.models import VatRate
from documents.models import Document
from documents.rendering import payment_qr_payload, render_html, render_pdf
from documents.supplier import Supplier

from .factories import SELLER_SUPPLIER, make_counterparty, make_order, make_our_organization

pytestmark = pytest.mark.django_db


def pdf_text(pdf: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return " ".join(text.replace("\u00a0", " ").split()), len(reader.pages)


@pytest.fixture(autouse=True)
def our_organization(db):
    return make_our_organization()


@pytest.fixture
def order():
    return make_order(
        [
            ("Перчатки нитриловые", "10", "150.00", VatRate.VAT_22),
            ("Хлеб ржаной", "3", "55.55", VatRate.VAT_10, "10"),
            ("Консультация", "1", "1000.00", VatRate.NONE),
        ],
        counterparty=make_counterparty(),
        erp_number="00042",
    )


def test_invoice_pdf_text(order):
    document = Document(order=order, kind=Document.Kind.INVOICE, number="СЧ-17")
    text, pages = pdf_text(render_pdf(document))
    assert pages == 1
    assert "Счёт на оплату № СЧ-17" in text
    assert "ООО «Демо-Торг»" in text and "Общество с ограниченной ответственностью «Ромашка»" in text
    assert "ИНН 7707083893" in text and "КПП 773601001" in text
    assert "БИК 044525000" in text
    assert "Перчатки нитриловые" in text and "Хлеб ржаной" in text
    # 10 × 150 = 1500.00 (VAT 22: 270.49); 3 × 55.55 − 10 % = 149.985 → 149.99 (VAT 10: 13.64); 1000.00 без НДС
    assert "1 500,00" in text and "149,99" in text
    assert "Итого: 2 649,99" in text
    assert "В том числе НДС 22 %: 270,49" in text
    assert "В том числе НДС 10 %: 13,64" in text
    assert "Всего наименований 3, на сумму 2 649,99 руб." in text
    assert "Две тысячи шестьсот сорок девять рублей 99 копеек" in text
    assert "Иванов И. И." in text


def test_invoice_without_vat_says_so():
    order = make_order([("Услуга", "2", "500.00", VatRate.NONE)], counterparty=make_counterparty())
    text, _ = pdf_text(render_pdf(Document(order=order, kind=Document.Kind.INVOICE, number="1")))
    assert "Без налога (НДС)" in text
    assert "В том числе НДС" not in text
    assert "Одна тысяча рублей 00 копеек" in text


def test_invoice_qr_payload_and_svg(order):
    html = render_html(Document(order=order, kind=Document.Kind.INVOICE, number="СЧ-17"))
    assert '<div class="qr"><svg' in html
    payload = payment_qr_payload(
        Supplier(name="ООО «А|Б»", inn="7712345671", kpp="771201001", bank_name="Банк", bik="044525000",
                 correspondent_account="30101810400000000000", account="40702810000000000001"),
        amount=D("2649.99"),
        purpose="Оплата по счёту № 1",
    )
    assert payload == (
        "ST00012|Name=ООО «А Б»|PersonalAcc=40702810000000000001|BankName=Банк|BIC=044525000"
        "|CorrespAcc=30101810400000000000|PayeeINN=7712345671|KPP=771201001|Purpose=Оплата по счёту № 1|Sum=264999"
    )


def test_invoice_qr_carries_the_document_total(order):
    from documents.rendering import build_context

    context = build_context(Document(order=order, kind=Document.Kind.INVOICE, number="СЧ-17"), supplier=SELLER_SUPPLIER)
    assert context["qr_payload"].startswith("ST00012|Name=ООО «Демо-Торг»|PersonalAcc=40702810000000000001|")
    assert context["qr_payload"].endswith("|Sum=264999")
    assert "Purpose=Оплата по счёту № СЧ-17 от " in context["qr_payload"]


@pytest.mark.parametrize("status", [1, 2])
def test_upd_pdf_text(order, status):
    text, _ = pdf_text(render_pdf(Document(order=order, kind=Document.Kind.UPD, number="УПД-5", upd_status=status)))
    assert "Универсальный передаточный документ" in text
    assert f"Статус: {status}" in text
    assert "Счёт-фактура № УПД-5" in text
    assert "ИНН/КПП покупателя 7707083893/773601001" in text
    assert "российский рубль, 643" in text
    # line 1: net 1229.51, VAT 270.49, with VAT 1500.00; без НДС line shows "без НДС"
    assert "1 229,51" in text and "270,49" in text and "без НДС" in text
    assert "Всего к оплате" in text and "2 365,86" in text  # net total = 2649.99 − 284.13
    assert "284,13" in text and "2 649,99" in text
    assert "Товар (груз) передал" in text and "Дата отгрузки, передачи (сдачи)" in text


@pytest.mark.parametrize("kind", [Document.Kind.TORG12, Document.Kind.RETURN])
def test_torg12_pdf_text(order, kind):
    text, _ = pdf_text(render_pdf(Document(order=order, kind=kind, number="ТН-9")))
    assert "ТОВАРНАЯ НАКЛАДНАЯ" in text and "0330212" in text
    assert ("(возврат)" in text) == (kind == Document.Kind.RETURN)
    assert "Грузополучатель" in text and "Плательщик" in text
    assert "Всего по накладной" in text and "2 649,99" in text
    assert "содержит 3 порядковых номеров записей" in text
    assert "Две тысячи шестьсот сорок девять рублей 99 копеек" in text


def test_500_line_invoice_breaks_pages_and_repeats_the_header():
    order = make_order(
        [(f"Товар номер {n}", "1", "10.00", VatRate.VAT_22) for n in range(1, 501)], counterparty=make_counterparty()
    )
    reader = PdfReader(io.BytesIO(render_pdf(Document(order=order, kind=Document.Kind.INVOICE, number="500"))))
    assert len(reader.pages) > 5
    first, second, last = (
        " ".join(reader.pages[i].extract_text().replace("\u00a0", " ").split()) for i in (0, 1, -1)
    )
    assert "Счёт на оплату № 500" in first and "Товар номер 1 " in first
    assert "Товары (работы, услуги)" in second  # the table header repeated on the next page
    assert "Счёт на оплату" not in second
    assert "Товар номер 500" in last or "Товар номер 500" in reader.pages[-2].extract_text()
    assert "Всего наименований 500, на сумму 5 000,00 руб." in last
    assert "В том числе НДС 22 %: 900,00" in last  # 500 × round(10 × 22/122 = 1.803…) = 500 × 1.80
    assert "Пять тысяч рублей 00 копеек" in last


def test_quick_invoice_uses_the_order_number(order):
    from documents.rendering import render_quick_invoice

    text, _ = pdf_text(render_quick_invoice(order))
    assert "Счёт на оплату № 00042" in text and "2 649,99" in text
    assert not Document.objects.exists()  # nothing stored


def test_500_line_invoice_has_every_line_in_order_and_the_right_totals():
    """The `invoice_pdf` bench's invoice: mixed quantities, prices and VAT rates; every line's name, quantity and
    total in the text, in order, and the totals, VAT by rate and amount in words of the stored order."""
    from documents.rendering import format_money
    from documents.words import amount_in_words

    def money(value) -> str:
        return format_money(value).replace("\u00a0", " ")

    rates = [VatRate.VAT_22, VatRate.VAT_10, VatRate.NONE, VatRate.VAT_5, VatRate.VAT_7]
    order = make_order(
        [(f"Товар для замера № {n}", str(n % 7 + 1), f"{n}.99", rates[n % len(rates)]) for n in range(1, 501)],
        counterparty=make_counterparty(),
    )
    text, pages = pdf_text(render_pdf(Document(order=order, kind=Document.Kind.INVOICE, number="BENCH-500")))
    assert pages >= 9
    position = 0
    for line in order.lines.select_related("product").order_by("position"):
        vat = "без НДС" if line.vat_rate == VatRate.NONE else f"{line.vat_rate}%"
        row = (f"{line.position} Товар для замера № {line.position} ({line.product.article}) {line.quantity:.0f} шт "
               f"{money(line.price)} {vat} {money(line.total)}")
        found = text.find(row, position)
        assert found >= 0, f"line {line.position} missing or out of order: {row!r}"
        position = found + len(row)
    total = money(order.total)
    assert f"Итого: {total}" in text and f"Всего к оплате: {total}" in text
    assert f"Всего наименований 500, на сумму {total} руб." in text
    by_rate = {rate: sum(line.vat_amount for line in order.lines.all() if line.vat_rate == rate) for rate in rates
               if rate != VatRate.NONE}
    for rate, vat in by_rate.items():
        assert f"В том числе НДС {rate} %: {money(vat)}" in text
    assert amount_in_words(order.total) in text
