"""The streaming reader on the variants 1C and other exporters write (additions §0 and §2)."""

from decimal import Decimal

import pytest

from integration.erp.commerceml import parser
from integration.erp.types import ErpProduct, ErpUnit


def read(tmp_path, body: str, encoding: str = "utf-8", namespace: str = ' xmlns="urn:1C.ru:commerceml_2"') -> list:
    path = tmp_path / "file.xml"
    xml = f'<?xml version="1.0" encoding="{encoding}"?><КоммерческаяИнформация{namespace} ВерсияСхемы="2.10">{body}' \
          f"</КоммерческаяИнформация>"
    path.write_bytes(xml.encode(encoding))
    return list(parser.read(path))


def test_a_light_offers_package_with_warehouses_decimal_commas_and_pack_prices(tmp_path):
    records = read(tmp_path, """
      <ИзмененияПакетаПредложений><ТипыЦен><ТипЦены><Ид>P</Ид><Наименование>Опт</Наименование><Валюта>руб</Валюта>
      </ТипЦены></ТипыЦен><Предложения>
        <Предложение><Ид>A#c1</Ид><Цены><Цена><ИдТипаЦены>P</ИдТипаЦены><ЦенаЗаЕдиницу>1 200,50</ЦенаЗаЕдиницу>
          <Коэффициент>10</Коэффициент></Цена></Цены><Склады ИдСклада="W1" КоличествоНаСкладе="2,5"/>
          <Склады ИдСклада="W2" КоличествоНаСкладе=""/></Предложение>
      </Предложения></ИзмененияПакетаПредложений>""", namespace="")
    start, header, offer = records
    assert start == parser.OffersStart(only_changes=True)  # the light package is always a change
    assert header.price_lists[0].currency == "RUB"
    assert offer.product_erp_id == "A"
    assert offer.prices == (("P", Decimal("120.05")),)  # 1 200,50 for a pack of 10 → per base unit
    assert offer.stock == (("W1", Decimal("2.5")), ("W2", Decimal(0)))  # an empty attribute is 0


def test_a_product_with_okei_code_and_its_trailing_space_in_windows_1251(tmp_path):
    records = read(tmp_path, """<Каталог СодержитТолькоИзменения="true"><Товары><Товар><Ид>X</Ид><Артикул>A-1</Артикул>
      <Наименование>Провод</Наименование><БазоваяЕдиница Код="006 " НаименованиеПолное="Метр">м</БазоваяЕдиница>
      <СтавкиНалогов><СтавкаНалога><Наименование>НДС</Наименование><Ставка>Без НДС</Ставка></СтавкаНалога>
      </СтавкиНалогов><Штрихкод>4600000000011</Штрихкод></Товар></Товары></Каталог>""", encoding="windows-1251")
    start, unit, product = records
    assert start == parser.CatalogStart(only_changes=True)
    assert unit == ErpUnit(erp_id="okei:006", okei_code="006", name="Метр", short_name="м")
    assert isinstance(product, ErpProduct) and product.unit_erp_id == "okei:006" and product.vat_rate == "none"
    assert [b.value for b in product.barcodes] == ["4600000000011"]


def test_commerceml_3_rests_and_documents_in_a_container(tmp_path):
    records = read(tmp_path, """<ПакетПредложений><Предложения><Предложение><Ид>B</Ид><Остатки><Остаток><Склад><Ид>W</Ид>
      <Количество>7</Количество></Склад></Остаток></Остатки></Предложение></Предложения></ПакетПредложений>
      <Контейнер><Документ><Ид>k</Ид><Номер>5</Номер><ХозОперация>Заказ товара</ХозОперация><Сумма>10</Сумма>
      <ЗначенияРеквизитов><ЗначениеРеквизита><Наименование>Номер1С</Наименование><Значение>ЗК-9</Значение>
      </ЗначениеРеквизита></ЗначенияРеквизитов></Документ></Контейнер>""", namespace=' xmlns="urn:1C.ru:commerceml_3"')
    offer = next(r for r in records if isinstance(r, parser.Offer))
    assert offer.stock == (("W", Decimal(7)),)
    document = next(r for r in records if isinstance(r, parser.Document))
    assert document.requisite("Номер по 1С", "Номер1С") == "ЗК-9" and document.total == Decimal(10)


@pytest.mark.parametrize("body, reason", [
    ("<Каталог><Товары><Товар><Наименование>без Ид</Наименование></Товар></Товары></Каталог>", "Ид is missing"),
    ("<ПакетПредложений><Предложения><Предложение><Ид>A</Ид><Цены><Цена><ЦенаЗаЕдиницу>abc</ЦенаЗаЕдиницу></Цена>"
     "</Цены></Предложение></Предложения></ПакетПредложений>", "ЦенаЗаЕдиницу: 'abc' is not a number"),
    ("<Каталог><Товары><Товар><Ид>A</Ид>", "not a well-formed XML file"),
])
def test_what_cannot_be_read_is_named(tmp_path, body, reason):
    path = tmp_path / "bad.xml"
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><КоммерческаяИнформация>{body}'
                    + ("</КоммерческаяИнформация>" if "well-formed" not in reason else ""))
    with pytest.raises(parser.CmlFormatError, match=reason):
        list(parser.read(path))
