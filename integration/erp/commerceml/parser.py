"""Streaming reader of CommerceML 2.x (and 3.x split) files into the ERP core's typed records.

`iterparse` with every finished element removed from its parent, so a 2 GB file costs the memory of one
product. Namespaces (`urn:1C.ru:commerceml_2`, `_205`, `_3`, none at all as MoySklad writes) are ignored;
the encoding is the one the XML prolog declares (UTF-8 with or without BOM, windows-1251).

What it yields, in file order: Classifier (groups, units), CatalogStart (full or changes only), ErpUnit + ErpProduct,
OffersStart (full or changes only), OffersHeader (price types, warehouses), Offer, Document (orders.xml from 1C).
A value that cannot be read raises CmlFormatError naming the element and the reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from integration.erp.types import ErpBarcode, ErpCategory, ErpPriceList, ErpProduct, ErpUnit, ErpWarehouse
from integration.errors import PermanentError

VAT = {"22": "22", "20": "22", "18": "22", "10": "10", "0": "0", "5": "5", "7": "7"}  # 20/18: earlier rates of today's 22
NO_VAT = ("без", "не облага")
SERVICE_WORDS = ("услуга",)


class CmlFormatError(PermanentError):
    """A CommerceML file we cannot read: the element and the reason."""


@dataclass(frozen=True)
class Classifier:
    categories: tuple[ErpCategory, ...]
    units: tuple[ErpUnit, ...]


@dataclass(frozen=True)
class CatalogStart:
    only_changes: bool


@dataclass(frozen=True)
class OffersStart:
    only_changes: bool


@dataclass(frozen=True)
class OffersHeader:
    price_lists: tuple[ErpPriceList, ...]
    warehouses: tuple[ErpWarehouse, ...]


@dataclass(frozen=True)
class Offer:
    erp_id: str  # the product's Ид (a characteristic's offer: "<product>#<characteristic>")
    prices: tuple[tuple[str, Decimal], ...]  # (price type Ид, price per unit)
    quantity: Decimal | None
    stock: tuple[tuple[str, Decimal], ...]  # (warehouse Ид, quantity)

    @property
    def product_erp_id(self) -> str:
        return self.erp_id.split("#", 1)[0]


@dataclass(frozen=True)
class DocumentLine:
    product_erp_id: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True)
class Document:
    """A <Документ> 1C sends back (sale&mode=file): our order's Ид and what 1C says of it."""

    erp_id: str
    number: str
    operation: str
    total: Decimal | None
    requisites: dict[str, str] = field(default_factory=dict)  # names lower-cased
    lines: tuple[DocumentLine, ...] = ()
    dated: str = ""  # <Дата> and <Время> as 1C wrote them, "2026-12-01T10:00:00"
    basis: str = ""  # a payment's or shipment's order: <Основание> (see document_of)
    subordinates: tuple[Document, ...] = ()  # 2.10 ПодчиненныеДокументы: payments and shipments of the order

    def requisite(self, *names: str) -> str:
        for name in names:
            value = self.requisites.get(name.lower())
            if value is not None:
                return value
        return ""


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element, name: str) -> ET.Element | None:
    for item in element:
        if local(item.tag) == name:
            return item
    return None


def children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [item for item in element if local(item.tag) == name] if element is not None else []


def text(element: ET.Element | None, name: str | None = None) -> str:
    node = child(element, name) if (element is not None and name) else element
    return (node.text or "").strip() if node is not None else ""


def attr(element: ET.Element, name: str) -> str:
    for key, value in element.attrib.items():
        if local(key) == name:
            return value.strip()
    return ""


def decimal(value: str, where: str) -> Decimal:
    cleaned = value.replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise CmlFormatError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite():
        raise CmlFormatError(f"{where}: {value!r} is not a number")
    return number


def truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "да", "yes")


def requisites(element: ET.Element) -> dict[str, str]:
    values = {}
    for item in children(child(element, "ЗначенияРеквизитов"), "ЗначениеРеквизита"):
        values[text(item, "Наименование").lower()] = text(item, "Значение")
    return values


def unit_of(element: ET.Element | None) -> ErpUnit | None:
    """<БазоваяЕдиница Код="796 " НаименованиеПолное="Штука">шт</БазоваяЕдиница>: the code without 1C's space."""
    if element is None:
        return None
    code = attr(element, "Код") or text(element, "Код")
    if not code:
        return None
    short = text(element) if len(element) == 0 else text(element, "НаименованиеКраткое")
    full = attr(element, "НаименованиеПолное") or text(element, "НаименованиеПолное") or short or code
    return ErpUnit(erp_id=f"okei:{code}", okei_code=code, name=full, short_name=short or full)


def vat_of(product: ET.Element) -> str:
    for rate in children(child(product, "СтавкиНалогов"), "СтавкаНалога"):
        if text(rate, "Наименование").upper() != "НДС":
            continue
        value = text(rate, "Ставка").replace("%", "").strip()
        if not value or any(word in value.lower() for word in NO_VAT):
            return "none"
        if value not in VAT:
            raise CmlFormatError(f"Товар {text(product, 'Ид')}: СтавкаНалога {value!r} is not a VAT rate we know")
        return VAT[value]
    return "22"


def product_of(element: ET.Element) -> ErpProduct:
    erp_id = text(element, "Ид")
    if not erp_id:
        raise CmlFormatError("Товар: Ид is missing")
    props = requisites(element)
    kind_text = " ".join(props.get(k, "") for k in ("видноменклатуры", "типноменклатуры")).lower()
    unit = unit_of(child(element, "БазоваяЕдиница"))
    barcodes = [text(b) for b in children(element, "Штрихкод") if text(b)]
    barcodes += [text(b) for b in children(child(element, "Штрихкоды"), "Штрихкод") if text(b)]
    groups = children(child(element, "Группы"), "Ид")
    archived = attr(element, "Статус").lower() == "удален" or truthy(text(element, "ПометкаУдаления"))
    return ErpProduct(
        erp_id=erp_id,
        article=(text(element, "Артикул") or erp_id)[:64],
        name=(text(element, "Наименование") or props.get("полное наименование") or erp_id)[:500],
        kind="service" if any(word in kind_text for word in SERVICE_WORDS) else "goods",
        unit_erp_id=unit.erp_id if unit else None,
        vat_rate=vat_of(element),
        category_erp_id=text(groups[0]) if groups else None,
        archived=archived,
        description=text(element, "Описание"),
        barcodes=tuple(ErpBarcode(value=v[:64], kind="ean13" if len(v) == 13 and v.isdigit() else "code128")
                       for v in dict.fromkeys(barcodes)),
    )


def groups_of(element: ET.Element | None, parent: str | None = None) -> Iterator[ErpCategory]:
    for group in children(element, "Группа"):
        erp_id = text(group, "Ид")
        if not erp_id:
            raise CmlFormatError("Группа: Ид is missing")
        yield ErpCategory(erp_id=erp_id, name=text(group, "Наименование") or erp_id, parent_erp_id=parent)
        yield from groups_of(child(group, "Группы"), erp_id)


def classifier_of(element: ET.Element) -> Classifier:
    units = [unit_of(u) for u in children(child(element, "ЕдиницыИзмерения"), "ЕдиницаИзмерения")]
    return Classifier(categories=tuple(groups_of(child(element, "Группы"))), units=tuple(u for u in units if u))


def price_list_of(element: ET.Element) -> ErpPriceList:
    erp_id = text(element, "Ид")
    if not erp_id:
        raise CmlFormatError("ТипЦены: Ид is missing")
    name = text(element, "Наименование") or erp_id
    currency = (text(element, "Валюта") or "RUB").upper()
    return ErpPriceList(erp_id=erp_id, name=name, code=name[:64], currency="RUB" if currency in ("РУБ", "RUR") else currency[:3])


def warehouse_of(element: ET.Element) -> ErpWarehouse:
    erp_id = text(element, "Ид")
    if not erp_id:
        raise CmlFormatError("Склад: Ид is missing")
    address = text(child(element, "Адрес"), "Представление")
    return ErpWarehouse(erp_id=erp_id, name=text(element, "Наименование") or erp_id, address=address)


def offer_of(element: ET.Element) -> Offer:
    erp_id = text(element, "Ид")
    if not erp_id:
        raise CmlFormatError("Предложение: Ид is missing")
    where = f"Предложение {erp_id}"
    prices = []
    for price in children(child(element, "Цены"), "Цена"):
        amount = decimal(text(price, "ЦенаЗаЕдиницу"), f"{where}: ЦенаЗаЕдиницу")
        factor = text(price, "Коэффициент")
        if factor and decimal(factor, f"{where}: Коэффициент") not in (0, 1):
            amount = amount / decimal(factor, f"{where}: Коэффициент")  # a price per pack → per base unit
        prices.append((text(price, "ИдТипаЦены"), amount.quantize(Decimal("0.01"))))
    quantity = text(element, "Количество")
    stock = []
    # 2.08/2.10: <Склад ИдСклада= КоличествоНаСкладе=/>; the light package and some exporters: <Склады …/>
    for node in [*children(element, "Склад"), *children(element, "Склады")]:
        warehouse = attr(node, "ИдСклада")
        if warehouse:
            value = attr(node, "КоличествоНаСкладе")
            stock.append((warehouse, decimal(value, f"{where}: КоличествоНаСкладе") if value else Decimal(0)))
    for rest in children(child(element, "Остатки"), "Остаток"):  # CommerceML 3.x rests files
        warehouse = child(rest, "Склад")
        if warehouse is not None:
            stock.append((text(warehouse, "Ид"), decimal(text(warehouse, "Количество") or "0", f"{where}: Количество")))
        elif text(rest, "Количество"):
            quantity = text(rest, "Количество")
    return Offer(erp_id=erp_id, prices=tuple(prices),
                 quantity=decimal(quantity, f"{where}: Количество") if quantity else None, stock=tuple(stock))


def document_of(element: ET.Element) -> Document:
    lines = []
    for row in children(child(element, "Товары"), "Товар"):
        product = text(row, "Ид")
        if not product or product.startswith("ORDER_DELIVERY"):
            continue
        where = f"Документ {text(element, 'Ид')}: Товар {product}"
        lines.append(DocumentLine(product_erp_id=product.split("#", 1)[0],
                                  quantity=decimal(text(row, "Количество") or "0", f"{where}: Количество"),
                                  price=decimal(text(row, "ЦенаЗаЕдиницу") or "0", f"{where}: ЦенаЗаЕдиницу")))
    total = text(element, "Сумма")
    given = requisites(element)
    moment = text(element, "Дата") + (f"T{text(element, 'Время')}" if text(element, "Время") else "")
    # Assumption (not in the XSDs; Bitrix's order loader reads it as the order's number): a payment or shipment
    # 1C sends as a document of its own names its order in <Основание>; a requisite «Основание» is read too.
    return Document(erp_id=text(element, "Ид"), number=text(element, "Номер"), operation=text(element, "ХозОперация"),
                    total=decimal(total, "Документ: Сумма") if total else None, requisites=given,
                    lines=tuple(lines), dated=moment, basis=text(element, "Основание") or given.get("основание", ""),
                    subordinates=tuple(document_of(sub) for sub in children(
                        child(element, "ПодчиненныеДокументы"), "ПодчиненныйДокумент")))


def read(path: Path) -> Iterator[object]:
    """The records of one file, streamed (see the module's docstring)."""
    stack: list[ET.Element] = []
    names: list[str] = []
    price_lists: list[ErpPriceList] = []
    warehouses: list[ErpWarehouse] = []
    header_sent = False
    try:
        for event, element in ET.iterparse(str(path), events=("start", "end")):
            name = local(element.tag)
            if event == "start":
                stack.append(element)
                names.append(name)
                if name == "Каталог":
                    yield CatalogStart(only_changes=truthy(attr(element, "СодержитТолькоИзменения")))
                elif name in ("ПакетПредложений", "ИзмененияПакетаПредложений"):
                    only = truthy(attr(element, "СодержитТолькоИзменения")) or name == "ИзмененияПакетаПредложений"
                    price_lists, warehouses, header_sent = [], [], False
                    yield OffersStart(only_changes=only)
                continue
            stack.pop()
            names.pop()
            parent = names[-1] if names else ""
            grand = names[-2] if len(names) > 1 else ""
            done = True
            if name == "Классификатор" and parent in ("КоммерческаяИнформация", "Контейнер"):
                yield classifier_of(element)
            elif name == "Товар" and parent == "Товары" and grand == "Каталог":
                unit = unit_of(child(element, "БазоваяЕдиница"))
                if unit is not None:
                    yield unit  # before its product: the importer makes units first
                yield product_of(element)
            elif name == "ТипЦены" and parent == "ТипыЦен":
                price_lists.append(price_list_of(element))
            elif name == "Склад" and parent == "Склады" and grand in ("ПакетПредложений", "ИзмененияПакетаПредложений"):
                warehouses.append(warehouse_of(element))
            elif name == "Предложение" and parent == "Предложения":
                if not header_sent:
                    header_sent = True
                    yield OffersHeader(price_lists=tuple(price_lists), warehouses=tuple(warehouses))
                yield offer_of(element)
            elif name == "Документ" and parent in ("КоммерческаяИнформация", "Контейнер"):
                yield document_of(element)
            elif name in ("ПакетПредложений", "ИзмененияПакетаПредложений") and not header_sent:
                header_sent = True
                yield OffersHeader(price_lists=tuple(price_lists), warehouses=tuple(warehouses))
            else:
                done = False
            if done and stack:
                stack[-1].remove(element)  # what was read is dropped: memory stays flat
    except ET.ParseError as exc:
        raise CmlFormatError(f"{path.name}: not a well-formed XML file ({exc})") from None
    except LookupError as exc:
        raise CmlFormatError(f"{path.name}: unknown encoding ({exc})") from None
