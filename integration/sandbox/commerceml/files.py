"""CommerceML files as 1C writes them (UTF-8 with BOM, `xmlns="urn:1C.ru:commerceml_2"`, ОКЕИ code with a
trailing space), for the demo company or a generated catalog of any size (the benchmark), in either encoding.

Streaming writers: `write_import` / `write_offers` produce 100,000 products without holding them in memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

NS = "urn:1C.ru:commerceml_2"
CLASSIFIER_ID = "c1a55f1e-0000-4000-8000-000000000001"
CATALOG_ID = "ca7a1090-0000-4000-8000-000000000001"
RETAIL = "9e1c0f5a-0000-4000-8000-000000000001"
WHOLESALE = "9e1c0f5a-0000-4000-8000-000000000002"
GROUPS = (("9a0c0000-0000-4000-8000-000000000001", "Кабель и провод"),
          ("9a0c0000-0000-4000-8000-000000000002", "Электроустановочные изделия"))


@dataclass
class Item:
    erp_id: str
    article: str
    name: str
    price: Decimal
    stock: dict[str, Decimal] = field(default_factory=dict)  # warehouse Ид → quantity
    okei: str = "796"
    unit: str = "шт"
    vat: str = "22"
    group: str = GROUPS[0][0]
    barcode: str = ""
    service: bool = False


WAREHOUSES = (("57a0e000-0000-4000-8000-000000000001", "Основной склад"),
              ("57a0e000-0000-4000-8000-000000000002", "Склад Подольск"))

DEMO = (
    Item("d3e0a000-0000-4000-8000-000000000001", "ВВГ-3х2.5", "Кабель ВВГнг-LS 3х2,5", Decimal("98.50"),
         {WAREHOUSES[0][0]: Decimal(1200), WAREHOUSES[1][0]: Decimal(300)}, okei="006", unit="м",
         barcode="4600000000011"),
    Item("d3e0a000-0000-4000-8000-000000000002", "ПВС-2х0.75", "Провод ПВС 2х0,75", Decimal("31.20"),
         {WAREHOUSES[0][0]: Decimal(500)}, okei="006", unit="м"),
    Item("d3e0a000-0000-4000-8000-000000000003", "РОЗ-2П", "Розетка двойная с заземлением", Decimal("245.00"),
         {WAREHOUSES[0][0]: Decimal(40), WAREHOUSES[1][0]: Decimal(12)}, group=GROUPS[1][0],
         barcode="4600000000035"),
    Item("d3e0a000-0000-4000-8000-000000000004", "ВЫК-1", "Выключатель одноклавишный", Decimal("119.90"),
         {WAREHOUSES[1][0]: Decimal(75)}, group=GROUPS[1][0], vat="10"),
    Item("d3e0a000-0000-4000-8000-000000000005", "МОНТ", "Монтаж электроточки", Decimal("650.00"), {},
         service=True, vat="Без НДС"),
)


def generated(products: int, warehouses: int = 5) -> Iterable[Item]:
    """A catalog of `products` items spread over `warehouses` (the benchmark's)."""
    stores = [f"57a0e000-0000-4000-8000-{n:012d}" for n in range(1, warehouses + 1)]
    for n in range(products):
        yield Item(f"b0000000-0000-4000-8000-{n:012d}", f"A-{n:07d}", f"Товар номер {n}",
                   Decimal(100 + n % 5000) + Decimal("0.99"),
                   {store: Decimal((n * 7 + i) % 50) for i, store in enumerate(stores)},
                   group=GROUPS[n % 2][0])


def _open(path: Path | io.BufferedIOBase, encoding: str, bom: bool):
    out = open(path, "wb") if isinstance(path, (str, Path)) else path  # noqa: SIM115 - the writer closes it
    if bom and encoding.lower().replace("-", "") == "utf8":
        out.write(b"\xef\xbb\xbf")
    out.write(f'<?xml version="1.0" encoding="{encoding}"?>\n'.encode("ascii"))
    return out


def _root(version: str = "2.08") -> str:
    return f'<КоммерческаяИнформация xmlns="{NS}" ВерсияСхемы="{version}" ДатаФормирования="2026-12-01T10:00:00">'


OWNER = ("<Владелец><Ид>0a0e0000-0000-4000-8000-000000000001</Ид><Наименование>ТД Электрика</Наименование>"
         "<ОфициальноеНаименование>ООО \"ТД Электрика\"</ОфициальноеНаименование><ИНН>7705260699</ИНН>"
         "<КПП>770501001</КПП></Владелец>")


def _classifier() -> str:
    groups = "".join(f"<Группа><Ид>{g}</Ид><Наименование>{escape(name)}</Наименование></Группа>" for g, name in GROUPS)
    return (f"<Классификатор><Ид>{CLASSIFIER_ID}</Ид><Наименование>Классификатор (Основной каталог товаров)"
            f"</Наименование>{OWNER}<Группы>{groups}</Группы></Классификатор>")


def write_import(path, items: Iterable[Item], *, encoding: str = "UTF-8", bom: bool = True,
                 only_changes: bool = False) -> None:
    out = _open(path, encoding, bom)
    try:
        out.write((_root() + _classifier() +
                   f'<Каталог СодержитТолькоИзменения="{str(only_changes).lower()}"><Ид>{CATALOG_ID}</Ид>'
                   f"<ИдКлассификатора>{CLASSIFIER_ID}</ИдКлассификатора>"
                   f"<Наименование>Основной каталог товаров</Наименование>{OWNER}<Товары>\n").encode(encoding))
        for item in items:
            kind = "Услуга" if item.service else "Товар"
            barcode = f"<Штрихкод>{item.barcode}</Штрихкод>" if item.barcode else ""
            out.write((
                f"<Товар><Ид>{item.erp_id}</Ид>{barcode}<Артикул>{escape(item.article)}</Артикул>"
                f"<Наименование>{escape(item.name)}</Наименование>"
                f'<БазоваяЕдиница Код="{item.okei} " НаименованиеПолное={quoteattr(item.unit)} '
                f'МеждународноеСокращение="PCE">{escape(item.unit)}</БазоваяЕдиница>'
                f"<Группы><Ид>{item.group}</Ид></Группы>"
                f"<СтавкиНалогов><СтавкаНалога><Наименование>НДС</Наименование><Ставка>{escape(item.vat)}</Ставка>"
                f"</СтавкаНалога></СтавкиНалогов>"
                f"<ЗначенияРеквизитов><ЗначениеРеквизита><Наименование>ВидНоменклатуры</Наименование>"
                f"<Значение>{kind}</Значение></ЗначениеРеквизита><ЗначениеРеквизита><Наименование>ТипНоменклатуры"
                f"</Наименование><Значение>{kind}</Значение></ЗначениеРеквизита></ЗначенияРеквизитов></Товар>\n"
            ).encode(encoding, errors="xmlcharrefreplace"))
        out.write("</Товары></Каталог></КоммерческаяИнформация>\n".encode(encoding))
    finally:
        if isinstance(path, (str, Path)):
            out.close()


def write_offers(path, items: Iterable[Item], *, encoding: str = "UTF-8", bom: bool = True,
                 only_changes: bool = False, warehouses=WAREHOUSES, wholesale: bool = True,
                 with_stock: bool = True) -> None:
    """offers.xml; `with_stock=False`: prices only (as 1C's prices.xml of schema 2.08+ carries them)."""
    out = _open(path, encoding, bom)
    try:
        types = [(RETAIL, "Розничная")] + ([(WHOLESALE, "Оптовая")] if wholesale else [])
        price_types = "".join(f"<ТипЦены><Ид>{t}</Ид><Наименование>{n}</Наименование><Валюта>RUB</Валюта>"
                              f"<Налог><Наименование>НДС</Наименование><УчтеноВСумме>true</УчтеноВСумме></Налог>"
                              f"</ТипЦены>" for t, n in types)
        stores = "".join(f"<Склад><Ид>{w}</Ид><Наименование>{escape(n)}</Наименование></Склад>" for w, n in warehouses)
        out.write((_root() + _classifier() +
                   f'<ПакетПредложений СодержитТолькоИзменения="{str(only_changes).lower()}"><Ид>{CATALOG_ID}#</Ид>'
                   f"<Наименование>Пакет предложений</Наименование><ИдКаталога>{CATALOG_ID}</ИдКаталога>"
                   f"<ИдКлассификатора>{CLASSIFIER_ID}</ИдКлассификатора>{OWNER}<ТипыЦен>{price_types}</ТипыЦен>"
                   f"<Склады>{stores}</Склады><Предложения>\n").encode(encoding))
        for item in items:
            prices = f"<Цена><Представление>{item.price} RUB за {escape(item.unit)}</Представление>" \
                     f"<ИдТипаЦены>{RETAIL}</ИдТипаЦены><ЦенаЗаЕдиницу>{item.price}</ЦенаЗаЕдиницу><Валюта>RUB</Валюта>" \
                     f"<Единица>{item.okei}</Единица><Коэффициент>1</Коэффициент></Цена>"
            if wholesale:
                prices += f"<Цена><ИдТипаЦены>{WHOLESALE}</ИдТипаЦены><ЦенаЗаЕдиницу>" \
                          f"{(item.price * Decimal('0.9')).quantize(Decimal('0.01'))}</ЦенаЗаЕдиницу>" \
                          f"<Валюта>RUB</Валюта><Коэффициент>1</Коэффициент></Цена>"
            stock = "".join(f'<Склад ИдСклада="{w}" КоличествоНаСкладе="{q}"/>' for w, q in item.stock.items())
            total = sum(item.stock.values(), Decimal(0))
            stock = f"<Количество>{total}</Количество>{stock}" if with_stock else ""
            out.write((
                f"<Предложение><Ид>{item.erp_id}</Ид><Артикул>{escape(item.article)}</Артикул>"
                f"<Наименование>{escape(item.name)}</Наименование>"
                f'<БазоваяЕдиница Код="{item.okei} ">{escape(item.unit)}</БазоваяЕдиница>'
                f"<Цены>{prices}</Цены>{stock}</Предложение>\n"
            ).encode(encoding, errors="xmlcharrefreplace"))
        out.write("</Предложения></ПакетПредложений></КоммерческаяИнформация>\n".encode(encoding))
    finally:
        if isinstance(path, (str, Path)):
            out.close()


def to_bytes(writer, items, **options) -> bytes:
    buffer = io.BytesIO()
    writer(buffer, items, **options)
    return buffer.getvalue()


ANSWER_FIELDS = ("Ид", "Номер", "Сумма", "Товары", "Контрагент", "ХозОперация", "Дата", "Основание", "Подчиненные")


def _answer_document(doc: dict, tag: str = "Документ") -> str:
    requisites = {k: v for k, v in doc.items() if k not in ANSWER_FIELDS}
    rows = "".join(f"<Товар><Ид>{p}</Ид><Наименование>{p}</Наименование>"
                   f'<БазоваяЕдиница Код="796">шт</БазоваяЕдиница><ЦенаЗаЕдиницу>{price}</ЦенаЗаЕдиницу>'
                   f"<Количество>{q}</Количество></Товар>"
                   for p, q, price in doc.get("Товары", ()))
    subordinates = "".join(_answer_document(sub, "ПодчиненныйДокумент") for sub in doc.get("Подчиненные", ()))
    party = escape(str(doc.get("Контрагент", "client")))
    return (
        f"<{tag}><Ид>{doc['Ид']}</Ид><Номер>{doc.get('Номер', '')}</Номер><Дата>{doc.get('Дата', '2026-12-01')}</Дата>"
        f"<ХозОперация>{doc.get('ХозОперация', 'Заказ товара')}</ХозОперация><Роль>Продавец</Роль><Валюта>руб</Валюта>"
        f"<Курс>1</Курс><Сумма>{doc.get('Сумма', '0')}</Сумма><Контрагенты><Контрагент><Ид>{party}</Ид>"
        f"<Наименование>{party}</Наименование><ПолноеНаименование>{party}</ПолноеНаименование><Роль>Покупатель</Роль>"
        f"</Контрагент></Контрагенты>"
        + (f"<Основание>{escape(str(doc['Основание']))}</Основание>" if "Основание" in doc else "")
        + (f"<Товары>{rows}</Товары>" if rows else "")
        + "<ЗначенияРеквизитов>" + "".join(
            f"<ЗначениеРеквизита><Наименование>{escape(k)}</Наименование><Значение>{escape(str(v))}</Значение>"
            f"</ЗначениеРеквизита>" for k, v in requisites.items()) + "</ЗначенияРеквизитов>"
        + (f"<ПодчиненныеДокументы>{subordinates}</ПодчиненныеДокументы>" if subordinates else "")
        + f"</{tag}>")


def answer_xml(documents: list[dict], *, encoding: str = "UTF-8") -> bytes:
    """orders.xml as 1C sends it back: each dict holds `Ид`, `Номер`, `Сумма`, optional `Товары`
    [(product Ид, quantity, price)] and the requisites by name («Номер по 1С», «Проведен», …); a payment or
    shipment of its own has `ХозОперация`, `Дата` and `Основание` (the order), and an order may carry them as
    `Подчиненные` (2.10 ПодчиненныеДокументы; the file is then 2.10)."""
    version = "2.10" if any(doc.get("Подчиненные") for doc in documents) else "2.08"
    body = [f'<?xml version="1.0" encoding="{encoding}"?>', _root(version)]
    body.extend(_answer_document(doc) for doc in documents)
    body.append("</КоммерческаяИнформация>")
    return "\n".join(body).encode(encoding)


def write_demo(folder: Path) -> None:
    """The demo company's files in both encodings (fixtures/ is made by this)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_import(folder / "import0_1.xml", DEMO)
    write_offers(folder / "offers0_1.xml", DEMO)
    (folder / "cp1251").mkdir(exist_ok=True)
    write_import(folder / "cp1251" / "import.xml", DEMO, encoding="windows-1251")
    write_offers(folder / "cp1251" / "offers.xml", DEMO, encoding="windows-1251")
