"""1C OData rows (Cyrillic field names, GUID refs, wall-clock dates) → the typed ERP records, and back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from integration.erp.onec.client import EMPTY_REF
from integration.erp.types import (
    ErpBarcode,
    ErpCategory,
    ErpCounterparty,
    ErpDocument,
    ErpDocumentLine,
    ErpOrder,
    ErpOrderLine,
    ErpOrganization,
    ErpPayment,
    ErpPriceList,
    ErpShipment,
    ErpShipmentLine,
    ErpUnit,
    ErpWarehouse,
)

MOSCOW = ZoneInfo("Europe/Moscow")
CENT = Decimal("0.01")
EMPTY_DATE = "0001-01-01T00:00:00"
KINDS = {"Товар": "goods", "Услуга": "service", "Набор": "kit"}
# Enum values of СтавкаНДС seen in public code (reference §1.5); the _1xx ones are calculated rates of the same %.
VAT_ENUM = {"БезНДС": "none", "НДС0": "0", "НДС5": "5", "НДС5_105": "5", "НДС7": "7", "НДС7_107": "7",
            "НДС10": "10", "НДС10_110": "10", "НДС20": "22", "НДС20_120": "22", "НДС22": "22", "НДС22_122": "22"}
VAT_TO_ENUM = {"none": "БезНДС", "0": "НДС0", "5": "НДС5", "7": "НДС7", "10": "НДС10", "22": "НДС22"}
LEGAL_FORMS = {"ЮрЛицо": "legal", "ИндивидуальныйПредприниматель": "entrepreneur", "ФизЛицо": "individual"}
FORMS_TO_1C = {v: k for k, v in LEGAL_FORMS.items()}


def ref(value: str | None) -> str | None:
    return value if value and value != EMPTY_REF else None


def decimal(value) -> Decimal:
    return Decimal(str(value or 0))


def moment(value: str | None) -> datetime | None:
    """1C's wall-clock date (no zone) as an aware Moscow datetime; the empty date → None."""
    if not value or value.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(value[:19]).replace(tzinfo=MOSCOW)


def wire_date(value: datetime | date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(MOSCOW)
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{value.isoformat()}T00:00:00"


def vat_rate(row: dict, vat_refs: dict[str, str]) -> str:
    """From the enum `СтавкаНДС` (УТ 11) or the ref `СтавкаНДС_Key` (new pricing); unknown → 22 (the general rate)."""
    if "СтавкаНДС_Key" in row:
        return vat_refs.get(row.get("СтавкаНДС_Key") or "", "22")
    return VAT_ENUM.get(row.get("СтавкаНДС") or "", "22")


def vat_ref_rate(row: dict) -> str:
    """A Catalog_СтавкиНДС row → our rate: by its enum twin when present, else by the percentage."""
    enum = row.get("ПеречислениеСтавкаНДС")
    if enum in VAT_ENUM:
        return VAT_ENUM[enum]
    percent = decimal(row.get("Ставка"))
    return "none" if not percent and "без" in (row.get("Description") or "").lower() else str(int(percent))


def unit(row: dict) -> ErpUnit:
    return ErpUnit(erp_id=row["Ref_Key"], okei_code=(row.get("Code") or "").strip(),
                   name=row.get("НаименованиеПолное") or row.get("Description") or "",
                   short_name=row.get("Description") or "")


def category(row: dict) -> ErpCategory:
    return ErpCategory(erp_id=row["Ref_Key"], name=row.get("Description") or "", parent_erp_id=ref(row.get("Parent_Key")))


def price_list(row: dict) -> ErpPriceList:
    return ErpPriceList(erp_id=row["Ref_Key"], name=row.get("Description") or "",
                        code=(row.get("Code") or "").strip() or row["Ref_Key"])


def warehouse(row: dict) -> ErpWarehouse:
    return ErpWarehouse(erp_id=row["Ref_Key"], name=row.get("Description") or "", code=(row.get("Code") or "").strip(),
                        archived=bool(row.get("DeletionMark")))


def barcode(value: str) -> ErpBarcode:
    digits = value.isdigit()
    kind = "ean13" if digits and len(value) == 13 else "ean8" if digits and len(value) == 8 else "code128"
    return ErpBarcode(value=value, kind=kind)


def counterparty(row: dict, price_list_erp_id: str | None = None) -> ErpCounterparty:
    phones = [c.get("Представление") or "" for c in row.get("КонтактнаяИнформация") or [] if c.get("Тип") == "Телефон"]
    emails = [c.get("Представление") or "" for c in row.get("КонтактнаяИнформация") or []
              if c.get("Тип") == "АдресЭлектроннойПочты"]
    return ErpCounterparty(
        name=row.get("Description") or "",
        kind=LEGAL_FORMS.get(row.get("ЮрФизЛицо") or "", "legal"),
        inn=(row.get("ИНН") or "").strip(),
        kpp=(row.get("КПП") or "").strip(),
        ogrn=(row.get("РегистрационныйНомер") or "").strip(),
        full_name=row.get("НаименованиеПолное") or "",
        legal_address=row.get("ЮридическийАдрес") or "",
        actual_address=row.get("ФактическийАдрес") or "",
        phone=phones[0] if phones else "",
        email=emails[0] if emails else "",
        erp_id=row["Ref_Key"],
        contacts=(),
        price_list_erp_id=price_list_erp_id,
        archived=bool(row.get("DeletionMark")),
    )


def counterparty_rows(data: ErpCounterparty) -> tuple[dict, dict]:
    """(Catalog_Партнеры body, Catalog_Контрагенты body without Партнер_Key) for a new client."""
    form = FORMS_TO_1C.get(data.kind, "ЮрЛицо")
    partner = {"Description": data.name, "НаименованиеПолное": data.full_name or data.name, "Клиент": True,
               "ЮрФизЛицо": "ЧастноеЛицо" if data.kind == "individual" else "КомпанияЧастноеЛицо",
               "Комментарий": "amoCRM"}
    contacts = [("Телефон", data.phone), ("АдресЭлектроннойПочты", data.email)]
    company = {"Description": data.name, "НаименованиеПолное": data.full_name or data.name, "ЮрФизЛицо": form,
               "ИНН": data.inn, "КПП": data.kpp, "ЮридическийАдрес": data.legal_address,
               "ФактическийАдрес": data.actual_address,
               "КонтактнаяИнформация": [{"LineNumber": n, "Тип": kind, "Представление": value}
                                        for n, (kind, value) in enumerate(((k, v) for k, v in contacts if v), start=1)]}
    return partner, company


def order_state(row: dict) -> tuple[str, str]:
    """(state, state type): marked for deletion = cancelled; Закрыт = done; anything else is in progress."""
    if row.get("DeletionMark"):
        return "Отменён", "Unsuccessful"
    status = row.get("Статус") or ""
    return status, "Successful" if status == "Закрыт" else "Regular"


def order(row: dict, vat_refs: dict[str, str], kinds: dict[str, str], shipped: dict[str, Decimal],
          paid_total: Decimal, reserving: tuple[str, ...]) -> ErpOrder:
    state, state_type = order_state(row)
    lines = []
    vat_total = Decimal(0)
    remaining = dict(shipped)
    for line in row.get("Товары") or []:
        if line.get("Отменено"):
            continue
        product = line.get("Номенклатура_Key") or ""
        quantity = decimal(line.get("Количество"))
        done = min(quantity, remaining.get(product, Decimal(0)))
        remaining[product] = remaining.get(product, Decimal(0)) - done
        reserved = quantity if row.get("Posted") and line.get("ВариантОбеспечения") in reserving else Decimal(0)
        vat_total += decimal(line.get("СуммаНДС"))
        lines.append(ErpOrderLine(
            erp_line_id=f"{row['Ref_Key']}:{line.get('LineNumber')}", product_erp_id=product,
            kind=kinds.get(product, "goods"), quantity=quantity, price=decimal(line.get("Цена")),
            discount_percent=decimal(line.get("ПроцентРучнойСкидки")), vat_rate=vat_rate(line, vat_refs),
            reserved=max(Decimal(0), reserved - done), shipped=done))
    total = decimal(row.get("СуммаДокумента"))
    shipped_total = sum((line.shipped * line.price for line in lines), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    return ErpOrder(
        erp_id=row["Ref_Key"], number=row.get("Number") or "", external_code=row.get("НомерПоДаннымКлиента") or "",
        state=state, state_type=state_type, updated_at=None, counterparty_erp_id=ref(row.get("Контрагент_Key")),
        warehouse_erp_id=ref(row.get("Склад_Key")), total=total, vat_total=vat_total, paid_total=paid_total,
        shipped_total=shipped_total, lines=tuple(lines))


def document_lines(rows: list[dict], vat_refs: dict[str, str]) -> tuple[ErpDocumentLine, ...]:
    """A document's goods rows (an order's or a shipment's `Товары`) as our VAT maths checks them."""
    return tuple(ErpDocumentLine(quantity=decimal(line.get("Количество")), price=decimal(line.get("Цена")),
                                 discount_percent=decimal(line.get("ПроцентРучнойСкидки")),
                                 vat_rate=vat_rate(line, vat_refs))
                 for line in rows if not line.get("Отменено"))


def rows_vat(rows: list[dict]) -> Decimal:
    return sum((decimal(line.get("СуммаНДС")) for line in rows if not line.get("Отменено")), Decimal(0))


def invoice(row: dict, basis: dict | None = None, vat_refs: dict[str, str] | None = None) -> ErpDocument:
    """An invoice; with its basis order (`basis`), the order's rows and VAT as the invoice's own. Assumption: УТ
    11's СчетНаОплатуКлиенту has no goods table — its print form lists the basis order's goods."""
    when = moment(row.get("Date"))
    return ErpDocument(erp_id=row["Ref_Key"], kind="invoice", number=row.get("Number") or "",
                       issued_on=when.date() if when else None, total=decimal(row.get("СуммаДокумента")),
                       vat_total=rows_vat(basis.get("Товары") or []) if basis else Decimal(0),
                       order_erp_id=ref(row.get("ДокументОснование")),
                       lines=document_lines(basis.get("Товары") or [], vat_refs or {}) if basis else (),
                       vat_included=bool(basis.get("ЦенаВключаетНДС", True)) if basis else True)


def shipment_document(row: dict, kind: str, vat_refs: dict[str, str]) -> ErpDocument:
    """A УПД/ТОРГ-12 of one РеализацияТоваровУслуг: its number, date, total and rows."""
    when = moment(row.get("Date"))
    return ErpDocument(erp_id=row["Ref_Key"], kind=kind, number=row.get("Number") or "",
                       issued_on=when.date() if when else None, total=decimal(row.get("СуммаДокумента")),
                       vat_total=rows_vat(row.get("Товары") or []), order_erp_id=ref(row.get("ЗаказКлиента_Key")),
                       lines=document_lines(row.get("Товары") or [], vat_refs),
                       vat_included=bool(row.get("ЦенаВключаетНДС", True)))


def shipment(row: dict) -> ErpShipment:
    return ErpShipment(
        erp_id=row["Ref_Key"], number=row.get("Number") or "", order_erp_id=ref(row.get("ЗаказКлиента_Key")),
        shipped_at=moment(row.get("Date")) or datetime.now(MOSCOW), total=decimal(row.get("СуммаДокумента")),
        lines=tuple(ErpShipmentLine(product_erp_id=line.get("Номенклатура_Key") or "",
                                    quantity=decimal(line.get("Количество"))) for line in row.get("Товары") or []))


def payment(row: dict) -> ErpPayment:
    order_ref = next((line.get("ОснованиеПлатежа") for line in row.get("РасшифровкаПлатежа") or []
                      if "Document_ЗаказКлиента" in (line.get("ОснованиеПлатежа_Type") or "")), None)
    return ErpPayment(
        erp_id=row["Ref_Key"], number=row.get("Number") or "", order_erp_id=ref(order_ref),
        paid_at=moment(row.get("Date")) or datetime.now(MOSCOW), amount=decimal(row.get("СуммаДокумента")),
        purpose=row.get("НазначениеПлатежа") or row.get("Основание") or "")




def organization(row: dict, account: dict, bank: dict) -> ErpOrganization:
    kind = "entrepreneur" if row.get("ЮрФизЛицо") == "ФизЛицо" else "legal"
    return ErpOrganization(
        erp_id=row["Ref_Key"], name=(row.get("НаименованиеПолное") or row.get("Description") or "").strip(),
        inn=row.get("ИНН") or "", kind=kind, kpp=(row.get("КПП") or "") if kind == "legal" else "",
        ogrn=row.get("ОГРН") or "", address=row.get("ЮридическийАдрес") or "",
        bank_name=bank.get("Description") or "", bik=(bank.get("Code") or "").strip(),
        correspondent_account=bank.get("КоррСчет") or "", account=account.get("НомерСчета") or "")
