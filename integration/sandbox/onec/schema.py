"""Entity sets of the three configuration profiles and their `$metadata` (EDMX, CSDL of OData v3).

Profile differences (reference §1.4–§1.5): УТ 11 (11.4 pricing) keeps prices in `InformationRegister_ЦеныНоменклатуры`
and the VAT rate as the enum `СтавкаНДС`; КА 2 and ERP 2 (new pricing) use `ЦеныНоменклатуры25` and the catalog ref
`СтавкаНДС_Key`; ERP 2 adds its production documents (fingerprint only). Which fields each set carries beyond the
system ones is taken from public integrations (**[code]** in the reference) and is an assumption where it is not.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

G, S, B, N, DT, INT = "Edm.Guid", "Edm.String", "Edm.Boolean", "Edm.Double", "Edm.DateTime", "Edm.Int64"
PROFILES = ("ut11", "ka2", "erp2")
PROFILE_NAMES = {"ut11": "УТ 11", "ka2": "КА 2", "erp2": "ERP 2"}

CATALOG = [("Ref_Key", G), ("DataVersion", S), ("DeletionMark", B), ("Code", S), ("Description", S)]
DOCUMENT = [("Ref_Key", G), ("DataVersion", S), ("DeletionMark", B), ("Number", S), ("Date", DT), ("Posted", B)]
REGISTER = [("Recorder", S), ("Recorder_Type", S), ("Period", DT), ("LineNumber", INT), ("Active", B),
            ("RecordType", S)]

ORDER_ROWS = [("Ref_Key", G), ("LineNumber", INT), ("Номенклатура_Key", G), ("Характеристика_Key", G),
              ("Упаковка_Key", G), ("Склад_Key", G), ("Количество", N), ("КоличествоУпаковок", N), ("Цена", N),
              ("Сумма", N), ("СуммаНДС", N), ("СуммаСНДС", N), ("ПроцентРучнойСкидки", N), ("ВидЦены_Key", G),
              ("ВариантОбеспечения", S), ("Отменено", B), ("СтавкаНДС", S), ("СтавкаНДС_Key", G)]
SHIPMENT_ROWS = [("Ref_Key", G), ("LineNumber", INT), ("Номенклатура_Key", G), ("Количество", N), ("Цена", N),
                 ("Сумма", N), ("ПроцентРучнойСкидки", N), ("СуммаНДС", N), ("СуммаСНДС", N), ("СтавкаНДС", S),
                 ("СтавкаНДС_Key", G)]
PAYMENT_ROWS = [("Ref_Key", G), ("LineNumber", INT), ("ОснованиеПлатежа", S), ("ОснованиеПлатежа_Type", S),
                ("Сумма", N)]
KIT_ROWS = [("Ref_Key", G), ("LineNumber", INT), ("Номенклатура_Key", G), ("Количество", N)]
CONTACT_ROWS = [("Ref_Key", G), ("LineNumber", INT), ("Тип", S), ("Представление", S)]


def entity_sets(profile: str) -> dict[str, list[tuple[str, str]]]:
    """Entity set → its properties (name, EDM type); a tabular part is `Collection(<Set>_<Part>_RowType)`."""
    if profile not in PROFILES:
        raise ValueError(f"unknown 1C profile {profile!r}; one of {PROFILES}")
    new_pricing = profile != "ut11"
    vat = [("СтавкаНДС_Key", G)] if new_pricing else [("СтавкаНДС", S)]
    prices = "InformationRegister_ЦеныНоменклатуры25" if new_pricing else "InformationRegister_ЦеныНоменклатуры"
    sets: dict[str, list[tuple[str, str]]] = {
        "Catalog_Номенклатура": CATALOG + [
            ("Parent_Key", G), ("IsFolder", B), ("Артикул", S), ("НаименованиеПолное", S), ("Описание", S),
            ("ТипНоменклатуры", S), ("ЕдиницаИзмерения_Key", G), ("ИспользованиеХарактеристик", S),
            ("ИспользоватьСерии", B), *vat],
        "Catalog_УпаковкиЕдиницыИзмерения": CATALOG + [
            ("Владелец", S), ("Владелец_Type", S), ("ТипУпаковки", S), ("НаименованиеПолное", S),
            ("ЕдиницаИзмерения_Key", G), ("Числитель", N), ("Знаменатель", N)],
        "InformationRegister_ШтрихкодыНоменклатуры": [
            ("Штрихкод", S), ("Номенклатура_Key", G), ("Характеристика_Key", G), ("Упаковка_Key", G)],
        "Catalog_ВариантыКомплектацииНоменклатуры": CATALOG + [
            ("Owner_Key", G), ("Основной", B), ("Товары", "Collection(Catalog_ВариантыКомплектацииНоменклатуры_Товары_RowType)")],
        "Catalog_ВидыЦен": CATALOG + [("ВалютаЦены_Key", G), ("ЦенаВключаетНДС", B), ("Статус", S)],
        prices: REGISTER[2:3] + [("ВидЦены_Key", G), ("Номенклатура_Key", G), ("Характеристика_Key", G),
                                 ("Упаковка_Key", G), ("Цена", N), ("Валюта_Key", G)],
        "Catalog_Склады": CATALOG + [("Parent_Key", G), ("IsFolder", B), ("ТипСклада", S)],
        "AccumulationRegister_ТоварыНаСкладах": REGISTER + [
            ("Номенклатура_Key", G), ("Характеристика_Key", G), ("Склад_Key", G), ("ВНаличии", N), ("КОтгрузке", N)],
        "AccumulationRegister_СвободныеОстатки": REGISTER + [
            ("Номенклатура_Key", G), ("Характеристика_Key", G), ("Склад_Key", G), ("ВНаличии", N),
            ("ВРезервеСоСклада", N), ("ВРезервеПодЗаказ", N)],
        "AccumulationRegister_ЗаказыПоставщикам": REGISTER + [
            ("Номенклатура_Key", G), ("Характеристика_Key", G), ("Склад_Key", G), ("Заказано", N)],
        "Catalog_Партнеры": CATALOG + [
            ("Parent_Key", G), ("IsFolder", B), ("НаименованиеПолное", S), ("ЮрФизЛицо", S), ("Клиент", B),
            ("Поставщик", B), ("Комментарий", S)],
        "Catalog_Контрагенты": CATALOG + [
            ("Parent_Key", G), ("IsFolder", B), ("Партнер_Key", G), ("НаименованиеПолное", S), ("ЮрФизЛицо", S),
            ("ИНН", S), ("КПП", S), ("РегистрационныйНомер", S), ("ЮридическийАдрес", S), ("ФактическийАдрес", S),
            ("КонтактнаяИнформация", "Collection(Catalog_Контрагенты_КонтактнаяИнформация_RowType)")],
        "Catalog_Организации": CATALOG + [("НаименованиеПолное", S), ("ИНН", S), ("КПП", S), ("ОГРН", S),
                                          ("ЮридическийАдрес", S), ("ЮрФизЛицо", S), ("ОсновнойБанковскийСчет_Key", G)],
        "Catalog_БанковскиеСчетаОрганизаций": CATALOG + [("Owner_Key", G), ("НомерСчета", S), ("Банк_Key", G)],
        "Catalog_КлассификаторБанков": CATALOG + [("КоррСчет", S), ("Город", S)],
        "Catalog_СоглашенияСКлиентами": CATALOG + [("Партнер_Key", G), ("ВидЦен_Key", G), ("Типовое", B),
                                                  ("Статус", S)],
        "Document_ЗаказКлиента": DOCUMENT + [
            ("Организация_Key", G), ("Партнер_Key", G), ("Контрагент_Key", G), ("Соглашение_Key", G), ("Склад_Key", G),
            ("ХозяйственнаяОперация", S), ("Статус", S), ("ЦенаВключаетНДС", B), ("ЖелаемаяДатаОтгрузки", DT),
            ("Комментарий", S), ("АдресДоставки", S), ("НомерПоДаннымКлиента", S), ("СуммаДокумента", N),
            ("Товары", "Collection(Document_ЗаказКлиента_Товары_RowType)")],
        "Document_СчетНаОплатуКлиенту": DOCUMENT + [
            ("Организация_Key", G), ("Контрагент_Key", G), ("ДокументОснование", S), ("ДокументОснование_Type", S),
            ("СуммаДокумента", N)],
        "Document_РеализацияТоваровУслуг": DOCUMENT + [
            ("Организация_Key", G), ("Контрагент_Key", G), ("Склад_Key", G), ("ЗаказКлиента_Key", G),
            ("ЦенаВключаетНДС", B), ("СуммаДокумента", N),
            ("Товары", "Collection(Document_РеализацияТоваровУслуг_Товары_RowType)")],
        "Document_ПоступлениеБезналичныхДенежныхСредств": DOCUMENT + [
            ("Организация_Key", G), ("Контрагент_Key", G), ("СуммаДокумента", N), ("НазначениеПлатежа", S),
            ("РасшифровкаПлатежа",
             "Collection(Document_ПоступлениеБезналичныхДенежныхСредств_РасшифровкаПлатежа_RowType)")],
        "Document_ПриходныйКассовыйОрдер": DOCUMENT + [
            ("Организация_Key", G), ("Контрагент_Key", G), ("СуммаДокумента", N), ("Основание", S),
            ("РасшифровкаПлатежа", "Collection(Document_ПриходныйКассовыйОрдер_РасшифровкаПлатежа_RowType)")],
        "Document_РасходныйОрдерНаТовары": DOCUMENT + [("Склад_Key", G)],
        "AccumulationRegister_ДолгКлиентов": REGISTER + [("Контрагент_Key", G), ("Сумма", N)],
    }
    if new_pricing:
        sets["Catalog_СтавкиНДС"] = CATALOG + [("Ставка", N), ("ПеречислениеСтавкаНДС", S)]
    if new_pricing:
        sets["Document_НачислениеЗарплаты"] = DOCUMENT  # КА 2 and ERP 2 keep payroll (a fingerprint only)
    if profile == "erp2":
        sets["Document_ЗаказНаПроизводство"] = DOCUMENT
        sets["Document_ВыпускПродукции"] = DOCUMENT
    return sets


ROW_TYPES = {
    "Document_ЗаказКлиента_Товары": ORDER_ROWS,
    "Document_РеализацияТоваровУслуг_Товары": SHIPMENT_ROWS,
    "Document_ПоступлениеБезналичныхДенежныхСредств_РасшифровкаПлатежа": PAYMENT_ROWS,
    "Document_ПриходныйКассовыйОрдер_РасшифровкаПлатежа": PAYMENT_ROWS,
    "Catalog_ВариантыКомплектацииНоменклатуры_Товары": KIT_ROWS,
    "Catalog_Контрагенты_КонтактнаяИнформация": CONTACT_ROWS,
}
BALANCE_RESOURCES = {
    "AccumulationRegister_ТоварыНаСкладах": ("ВНаличии", "КОтгрузке"),
    "AccumulationRegister_СвободныеОстатки": ("ВНаличии", "ВРезервеСоСклада", "ВРезервеПодЗаказ"),
    "AccumulationRegister_ЗаказыПоставщикам": ("Заказано",),
    "AccumulationRegister_ДолгКлиентов": ("Сумма",),
}


def _properties(fields: list[tuple[str, str]]) -> str:
    out = []
    for name, edm in fields:
        if edm.startswith("Collection("):
            edm = f"Collection(StandardODATA.{edm[11:-1]})"
        out.append(f'<Property Name={quoteattr(name)} Type="{edm}" Nullable="true"/>')
    return "".join(out)


def metadata_xml(sets: dict[str, list[tuple[str, str]]]) -> str:
    """The EDMX document: an EntityType per set, row ComplexTypes, `<Set>_Balance` ComplexTypes, one container."""
    types, complex_types, container = [], [], []
    for name, fields in sets.items():
        keys = ["Ref_Key"] if fields and fields[0][0] == "Ref_Key" else [f for f, _ in fields[:2]]
        key_xml = "".join(f"<PropertyRef Name={quoteattr(k)}/>" for k in keys)
        types.append(f"<EntityType Name={quoteattr(name)}><Key>{key_xml}</Key>{_properties(fields)}</EntityType>")
        container.append(f"<EntitySet Name={quoteattr(name)} EntityType={quoteattr('StandardODATA.' + name)}/>")
        for field_name, edm in fields:
            if edm.startswith("Collection("):
                row = f"{name}_{field_name}"
                complex_types.append(
                    f"<ComplexType Name={quoteattr(row + '_RowType')}>{_properties(ROW_TYPES.get(row, []))}</ComplexType>")
        if name in BALANCE_RESOURCES:
            dims = [(f, t) for f, t in fields if f.endswith("_Key")]
            res = [(f"{r}Balance", N) for r in BALANCE_RESOURCES[name]]
            complex_types.append(f"<ComplexType Name={quoteattr(name + '_Balance')}>{_properties(dims + res)}</ComplexType>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">'
        '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'm:DataServiceVersion="3.0">'
        '<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">'
        + "".join(types) + "".join(complex_types)
        + '<EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">' + "".join(container)
        + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
