"""The demo company (or a benchmark-scale catalog) as 1C rows: catalogs, price register, opening balances.

Opening stock goes straight into the registers' balances (no movement rows): at 100,000 products × 5 warehouses
the movement dicts alone would not fit the benchmark's memory. Movements of documents posted later are kept.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from integration.sandbox import demo_company as demo

if TYPE_CHECKING:
    from integration.sandbox.onec.emulator import OneCEmulator

EMPTY = "00000000-0000-0000-0000-000000000000"
KINDS = {"goods": "Товар", "service": "Услуга", "kit": "Набор"}
VAT_ENUM = {"22": "НДС22", "20": "НДС20", "10": "НДС10", "7": "НДС7", "5": "НДС5", "0": "НДС0", "none": "БезНДС"}
LEGAL_FORMS = {"legal": "ЮрЛицо", "entrepreneur": "ИндивидуальныйПредприниматель", "individual": "ФизЛицо"}
PRICE_PERIOD = "2026-01-01T00:00:00"
OLD_PRICE_PERIOD = "2025-07-01T00:00:00"
ORGANIZATION = demo.erp_id("onec", "organization:own")
CURRENCY = demo.erp_id("onec", "currency:RUB")
ACCOUNT = demo.erp_id("onec", "organization:own:account")
BANK = demo.erp_id("onec", "bank:044525225")


def num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def unit_key(okei: str) -> str:
    return demo.erp_id("onec", f"unit:{okei}")


def vat_key(rate: str) -> str:
    return demo.erp_id("onec", f"vat:{rate}")


class Seeder:
    def __init__(self, em: OneCEmulator, *, price_history: bool = True):
        self.em = em
        self.price_history = price_history
        self.article_ids: dict[str, str] = {}
        self.warehouse_ids: dict[str, str] = {}
        self.price_ids: dict[str, str] = {}

    def seed(self, records) -> dict[str, int]:
        self.reference_rows()
        for record in records:
            if isinstance(record, demo.DemoUnit):
                self.unit(record)
            elif isinstance(record, demo.DemoCategory):
                self.em.insert("Catalog_Номенклатура", {
                    "Ref_Key": record.erp_id, "Code": "", "Description": record.name, "IsFolder": True,
                    "Parent_Key": record.parent_erp_id or EMPTY})
            elif isinstance(record, demo.DemoWarehouse):
                self.warehouse_ids[record.code] = record.erp_id
                self.em.insert("Catalog_Склады", {"Ref_Key": record.erp_id, "Code": record.code,
                                                  "Description": record.name, "IsFolder": False,
                                                  "Parent_Key": EMPTY, "ТипСклада": "ОптовыйСклад"})
            elif isinstance(record, demo.DemoPriceList):
                self.price_ids[record.code] = record.erp_id
                self.em.insert("Catalog_ВидыЦен", {"Ref_Key": record.erp_id, "Code": record.code,
                                                   "Description": record.name, "ВалютаЦены_Key": CURRENCY,
                                                   "ЦенаВключаетНДС": True, "Статус": "Действует"})
            elif isinstance(record, demo.DemoSegment):
                self.em.insert("Catalog_СоглашенияСКлиентами", {
                    "Ref_Key": record.erp_id, "Code": record.code, "Description": f"Типовое: {record.name}",
                    "Партнер_Key": EMPTY, "ВидЦен_Key": self.price_ids.get(record.price_list_code, EMPTY),
                    "Типовое": True, "Статус": "Действует"})
            elif isinstance(record, demo.DemoProduct):
                self.product(record)
            elif isinstance(record, demo.DemoStock):
                self.stock(record)
            elif isinstance(record, demo.DemoCounterparty):
                self.counterparty(record)
        return {name: len(rows) for name, rows in self.em.tables.items() if rows}

    def reference_rows(self) -> None:
        self.em.insert("Catalog_Организации", {
            "Ref_Key": ORGANIZATION, "Code": "000000001", "Description": "ЭлектроСнаб",
            "НаименованиеПолное": "Общество с ограниченной ответственностью «ЭлектроСнаб»",
            "ИНН": "7701234560", "КПП": "770101001", "ОГРН": "1027700000019",
            "ЮридическийАдрес": "125009, г. Москва, ул. Тверская, д. 7, офис 12", "ЮрФизЛицо": "ЮрЛицо",
            "ОсновнойБанковскийСчет_Key": ACCOUNT})
        self.em.insert("Catalog_КлассификаторБанков", {"Ref_Key": BANK, "Code": "044525225",
                                                       "Description": "ПАО Сбербанк", "КоррСчет": "30101810400000000225",
                                                       "Город": "г. Москва"})
        self.em.insert("Catalog_БанковскиеСчетаОрганизаций", {"Ref_Key": ACCOUNT, "Description": "Основной",
                                                              "Owner_Key": ORGANIZATION,
                                                              "НомерСчета": "40702810200000012345", "Банк_Key": BANK})
        if "Catalog_СтавкиНДС" in self.em.sets:
            for rate, enum in VAT_ENUM.items():
                self.em.insert("Catalog_СтавкиНДС", {
                    "Ref_Key": vat_key(rate), "Code": rate, "Description": "Без НДС" if rate == "none" else f"{rate}%",
                    "Ставка": 0 if rate == "none" else int(rate), "ПеречислениеСтавкаНДС": enum})

    def unit(self, unit: demo.DemoUnit) -> None:
        self.em.insert("Catalog_УпаковкиЕдиницыИзмерения", {
            "Ref_Key": unit_key(unit.okei_code), "Code": unit.okei_code, "Description": unit.short_name,
            "НаименованиеПолное": unit.name, "Владелец": EMPTY, "Владелец_Type": "",
            "ТипУпаковки": "ЕдиницаИзмерения", "ЕдиницаИзмерения_Key": EMPTY, "Числитель": 1, "Знаменатель": 1})

    def product(self, product: demo.DemoProduct) -> None:
        em = self.em
        self.article_ids[product.article] = product.erp_id
        vat = ({"СтавкаНДС_Key": vat_key(product.vat_rate)} if "Catalog_СтавкиНДС" in em.sets
               else {"СтавкаНДС": VAT_ENUM[product.vat_rate]})
        em.insert("Catalog_Номенклатура", {
            "Ref_Key": product.erp_id, "Code": product.article, "Description": product.name,
            "НаименованиеПолное": product.name, "Описание": "", "Parent_Key": product.category_erp_id,
            "IsFolder": False, "Артикул": product.article, "ТипНоменклатуры": KINDS[product.kind],
            "ЕдиницаИзмерения_Key": unit_key(product.unit_okei), "ИспользованиеХарактеристик": "НеИспользовать",
            "ИспользоватьСерии": product.tracking == "batch", **vat})
        for barcode in product.barcodes:
            em.insert("InformationRegister_ШтрихкодыНоменклатуры", {
                "Штрихкод": barcode, "Номенклатура_Key": product.erp_id, "Характеристика_Key": EMPTY,
                "Упаковка_Key": EMPTY})
        for pack in product.packs:
            pack_key = demo.erp_id("onec", f"pack:{product.erp_id}:{pack.unit_okei}:{pack.factor}")
            em.insert("Catalog_УпаковкиЕдиницыИзмерения", {
                "Ref_Key": pack_key, "Code": "", "Description": f"{pack.factor} {product.unit_okei}",
                "НаименованиеПолное": "", "Владелец": product.erp_id,
                "Владелец_Type": "StandardODATA.Catalog_Номенклатура", "ТипУпаковки": "Конечная",
                "ЕдиницаИзмерения_Key": unit_key(pack.unit_okei), "Числитель": num(pack.factor), "Знаменатель": 1})
            if pack.barcode:
                em.insert("InformationRegister_ШтрихкодыНоменклатуры", {
                    "Штрихкод": pack.barcode, "Номенклатура_Key": product.erp_id, "Характеристика_Key": EMPTY,
                    "Упаковка_Key": pack_key})
        if product.components and "Catalog_ВариантыКомплектацииНоменклатуры" in em.sets:
            em.insert("Catalog_ВариантыКомплектацииНоменклатуры", {
                "Ref_Key": demo.erp_id("onec", f"kit:{product.erp_id}"), "Code": "", "Description": "Основной",
                "Owner_Key": product.erp_id, "Основной": True,
                "Товары": [{"LineNumber": n, "Номенклатура_Key": self.article_ids.get(article, EMPTY),
                            "Количество": num(quantity)}
                           for n, (article, quantity) in enumerate(product.components, start=1)]})
        register = em.price_register
        for code, amount in product.prices:
            price_type = self.price_ids.get(code)
            if price_type is None:
                continue
            base = {"ВидЦены_Key": price_type, "Номенклатура_Key": product.erp_id, "Характеристика_Key": EMPTY,
                    "Упаковка_Key": EMPTY, "Валюта_Key": CURRENCY}
            if self.price_history:  # an older price too: only SliceLast gives the current one
                em.insert(register, {"Period": OLD_PRICE_PERIOD, **base, "Цена": num(
                    (amount * Decimal("0.9")).quantize(Decimal("0.01")))})
            em.insert(register, {"Period": PRICE_PERIOD, **base, "Цена": num(amount)})

    def stock(self, stock: demo.DemoStock) -> None:
        product = self.article_ids.get(stock.product_article)
        warehouse = self.warehouse_ids.get(stock.warehouse_code)
        if product is None or warehouse is None:
            return
        dims = {"Номенклатура_Key": product, "Характеристика_Key": EMPTY, "Склад_Key": warehouse}
        em = self.em
        em.add_balance("AccumulationRegister_ТоварыНаСкладах", dims, {"ВНаличии": stock.on_hand})
        if "AccumulationRegister_СвободныеОстатки" in em.sets:
            em.add_balance("AccumulationRegister_СвободныеОстатки", dims,
                           {"ВНаличии": stock.on_hand, "ВРезервеСоСклада": stock.reserved})
        if stock.expected:
            em.add_balance("AccumulationRegister_ЗаказыПоставщикам", dims, {"Заказано": stock.expected})

    def counterparty(self, cp: demo.DemoCounterparty) -> None:
        partner = demo.erp_id("onec", f"partner:{cp.erp_id}")
        form = LEGAL_FORMS.get(cp.kind, "ЮрЛицо")
        self.em.insert("Catalog_Партнеры", {
            "Ref_Key": partner, "Code": "", "Description": cp.name, "НаименованиеПолное": cp.full_name or cp.name,
            "ЮрФизЛицо": "КомпанияЧастноеЛицо" if cp.kind != "individual" else "ЧастноеЛицо", "Клиент": True,
            "Поставщик": False, "Комментарий": "", "IsFolder": False, "Parent_Key": EMPTY})
        contacts = [("Телефон", phone) for phone in cp.phones] + [("АдресЭлектроннойПочты", e) for e in cp.emails]
        self.em.insert("Catalog_Контрагенты", {
            "Ref_Key": cp.erp_id, "Code": "", "Description": cp.name, "НаименованиеПолное": cp.full_name or cp.name,
            "Партнер_Key": partner, "ЮрФизЛицо": form, "ИНН": cp.inn, "КПП": cp.kpp, "РегистрационныйНомер": cp.ogrn,
            "ЮридическийАдрес": cp.legal_address, "ФактическийАдрес": cp.actual_address, "IsFolder": False,
            "Parent_Key": EMPTY,
            "КонтактнаяИнформация": [{"LineNumber": n, "Тип": kind, "Представление": value}
                                     for n, (kind, value) in enumerate(contacts, start=1)]})
        if cp.segment_code and cp.segment_code in self.price_ids:
            self.em.insert("Catalog_СоглашенияСКлиентами", {
                "Ref_Key": demo.erp_id("onec", f"agreement:{cp.erp_id}"), "Code": "",
                "Description": f"Соглашение с {cp.name}", "Партнер_Key": partner,
                "ВидЦен_Key": self.price_ids[cp.segment_code], "Типовое": False, "Статус": "Действует"})


def demo_records():
    company = demo.demo_company()
    yield from company.units
    yield from company.categories
    yield from company.warehouses
    yield from company.price_lists
    yield from company.segments
    yield from company.products
    yield from company.stock
    yield from company.counterparties
