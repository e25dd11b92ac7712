"""Each data check of the pre-launch checklist: a failing record is listed (with its admin link and a fix), the
passing record next to it is not."""

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import Barcode, Category, Pack, Price, PriceList, Product, Segment, Unit
from counterparties.models import Counterparty, Email, Phone
from integration.models import Backend
from integration.staff.readiness import FAIL, PASS, WARN, run_readiness, suggest_domain

pytestmark = pytest.mark.django_db


def check(code: str):
    (result,) = run_readiness(codes=[code], store=False)
    return result


def labels(result) -> set[str]:
    return {offender.label for offender in result.offenders}


@pytest.fixture
def pcs():
    return Unit.objects.create(okei_code="796", name="штука", short_name="шт")


def product(article: str, unit: Unit, **extra) -> Product:
    return Product.objects.create(article=article, name=f"Товар {article}", unit=unit, **extra)


def test_counterparties_need_valid_inn_and_kpp_by_legal_form():
    good = Counterparty.objects.create(kind="legal", name="ООО Верно", inn="7707083893", kpp="773601001")
    bad_checksum = Counterparty.objects.create(kind="legal", name="ООО Опечатка", inn="7707083894", kpp="773601001")
    Counterparty.objects.create(kind="entrepreneur", name="ИП Короткий", inn="7707083893")  # 10 digits: an ИП has 12
    Counterparty.objects.create(kind="individual", name="Иванов без связи")
    wrong_number = Counterparty.objects.create(kind="individual", name="Сидоров с неверным номером")
    Phone.objects.create(counterparty=wrong_number, number="12345")

    result = check("counterparties")

    assert result.status == FAIL and result.count == 4
    assert labels(result) == {"ООО Опечатка", "ИП Короткий", "Иванов без связи", "Сидоров с неверным номером"}
    offender = next(o for o in result.offenders if o.label == "ООО Опечатка")
    assert "check digit" in offender.problem
    assert offender.url == reverse("admin:counterparties_counterparty_change", args=[bad_checksum.pk])
    assert good.name not in labels(result) and result.fix


def test_counterparties_in_another_format_are_a_warning_with_the_normal_form():
    Counterparty.objects.create(kind="legal", name="ООО Пробелы", inn="7707 083893", kpp="773601001")
    result = check("counterparties")
    assert result.status == WARN
    assert result.offenders[0].suggestion == "inn: 7707083893"


def test_counterparties_pass_when_all_are_valid():
    person = Counterparty.objects.create(kind="individual", name="Петров")
    Phone.objects.create(counterparty=person, number="+79161234567")
    assert check("counterparties").status == PASS


def test_contacts_phones_in_e164_and_emails_without_typos():
    client = Counterparty.objects.create(kind="legal", name="ООО Контакты", inn="7707083893", kpp="773601001")
    Phone.objects.create(counterparty=client, number="+79161234567")  # passes
    Phone.objects.create(counterparty=client, number="8 (916) 765-43-21")
    Phone.objects.create(counterparty=client, number="12345")
    Email.objects.create(counterparty=client, address="sales@mail.ru")  # passes
    Email.objects.create(counterparty=client, address="boss@gmial.com")
    Email.objects.create(counterparty=client, address=" buh@Yandex.RU ")

    result = check("contacts")

    by_label = {o.label: o for o in result.offenders}
    assert result.status == FAIL and result.count == 4
    assert by_label["ООО Контакты: 8 (916) 765-43-21"].suggestion == "+79167654321"
    assert by_label["ООО Контакты: 12345"].severity == FAIL
    assert by_label["ООО Контакты: boss@gmial.com"].suggestion == "boss@gmail.com"
    assert by_label["ООО Контакты:  buh@Yandex.RU "].suggestion == "buh@yandex.ru"
    assert suggest_domain("mail.ru") == "" and suggest_domain("yandx.ru") == "yandex.ru"


def test_contacts_pass():
    client = Counterparty.objects.create(kind="legal", name="ООО Чисто", inn="7707083893", kpp="773601001")
    Phone.objects.create(counterparty=client, number="+79161234567")
    Email.objects.create(counterparty=client, address="info@company.ru")
    assert check("contacts").status == PASS


def test_articles_present_unique_bound_and_matching_the_mask(pcs):
    cables = Category.objects.create(name="Кабель")
    Backend.objects.create(name="erp", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/",
                           settings={"article_masks": {"Кабель": r"CAB-\d+"}})
    product("CAB-1", pcs, erp_id="e1", category=cables)  # passes
    product("", pcs, erp_id="e2")
    product("cab-2", pcs, erp_id="e3", category=cables)  # the mask wants capitals
    product("LOCAL-1", pcs)  # not bound to the ERP
    product("NAIL-1", pcs, erp_id="e5")
    product("nail-1 ", pcs, erp_id="e6")  # the same article but for case and a space

    result = check("articles")

    problems = {(o.label, o.problem.split(" ")[1]) for o in result.offenders}
    assert result.status == FAIL
    assert labels(result) == {" Товар ", "cab-2 Товар cab-2", "LOCAL-1 Товар LOCAL-1", "NAIL-1 Товар NAIL-1",
                              "nail-1  Товар nail-1 "}
    assert ("LOCAL-1 Товар LOCAL-1", "product") in problems


def test_articles_pass(pcs):
    product("CAB-1", pcs)
    assert check("articles").status == PASS


def test_units_have_okei_packs_have_factors_and_own_barcodes(pcs):
    box = Unit.objects.create(okei_code="", name="коробка", short_name="кор")
    nail = product("NAIL-1", pcs)
    screw = product("SCREW-1", box)
    Barcode.objects.create(product=nail, value="4600000000001")
    Pack.objects.create(product=screw, unit=pcs, factor=Decimal("100"), barcode="4600000000001")
    Pack.objects.create(product=nail, unit=pcs, factor=Decimal("12"))  # a "pack" of the base unit holding 12

    result = check("units")

    problems = " | ".join(o.problem for o in result.offenders)
    assert result.status == FAIL
    assert "OKEI" in problems and "SCREW-1 Товар SCREW-1" in labels(result)
    assert "barcode 4600000000001" in labels(result) and "holds 12" in problems


def test_units_and_packs_pass(pcs):
    box = Unit.objects.create(okei_code="778", name="упаковка", short_name="уп")
    nail = product("NAIL-1", pcs)
    Barcode.objects.create(product=nail, value="4600000000001")
    Pack.objects.create(product=nail, unit=box, factor=Decimal("100"), barcode="4600000000002")
    assert check("units").status == PASS


def test_vat_among_the_allowed_and_prices_with_a_currency(pcs):
    Backend.objects.create(name="erp", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/",
                           settings={"allowed_vat_rates": ["22", "10"]})
    product("OK-1", pcs, vat_rate="22")
    product("USN-1", pcs, vat_rate="5")
    no_currency = PriceList.objects.create(name="Опт", code="opt", currency="")
    Price.objects.create(product=product("P-1", pcs), price_list=no_currency, amount=Decimal("10"))
    PriceList.objects.create(name="Розница", code="retail", currency="RUB")

    result = check("vat")

    assert result.status == FAIL and labels(result) == {"USN-1 Товар USN-1", "Опт ()"}
    assert "1 price(s)" in next(o.problem for o in result.offenders if o.label == "Опт ()")


def test_vat_and_currency_pass(pcs):
    product("OK-1", pcs, vat_rate="none")
    PriceList.objects.create(name="Розница", code="retail", currency="RUB")
    assert check("vat").status == PASS


def test_price_lists_tied_to_segments_counterparties_segmented_products_priced(pcs):
    wholesale = PriceList.objects.create(name="Опт", code="opt")
    orphan = PriceList.objects.create(name="Акция", code="promo")
    Segment.objects.create(name="Оптовики", code="wholesale", price_list=wholesale)
    priced, unpriced = product("A-1", pcs), product("B-1", pcs)
    Price.objects.create(product=priced, price_list=wholesale, amount=Decimal("10"))
    Price.objects.create(product=priced, price_list=orphan, amount=Decimal("9"))
    Counterparty.objects.create(kind="legal", name="ООО Без сегмента", inn="7707083893", kpp="773601001")

    result = check("segments")

    assert result.status == FAIL  # no default price list: a client without a segment has no prices at all
    assert labels(result) == {"Акция (RUB)", "ООО Без сегмента", str(unpriced)}


def test_price_lists_and_segments_pass_with_a_default_list_warning_only_for_unsegmented(pcs):
    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    segment = Segment.objects.create(name="Розница", code="retail", price_list=retail)
    Price.objects.create(product=product("A-1", pcs), price_list=retail, amount=Decimal("10"))
    Counterparty.objects.create(kind="legal", name="ООО С сегментом", inn="7707083893", kpp="773601001",
                                segment=segment)
    assert check("segments").status == PASS
    Counterparty.objects.create(kind="legal", name="ООО Без", inn="7736050003", kpp="773601001")
    assert check("segments").status == WARN
