"""The demo company: «ЭлектроСнаб», a distributor of electrical goods. Pure Python, deterministic.

Used by `manage.py load_demo` (straight into the database) and by the MoySklad sandbox (to seed itself).
Every call returns the same data; ERP ids are uuid5 of NAMESPACE and a stable key.

Shapes (frozen dataclasses; money and quantities are Decimal, codes and ids are str):

  DemoUnit(okei_code, name, short_name)                       ОКЕИ: 796 шт, 006 м, 166 кг, 778 упак …
  DemoCategory(erp_id, name, parent_erp_id)                   parent_erp_id None at the top
  DemoWarehouse(erp_id, code, name, address)
  DemoPriceList(erp_id, code, name, currency)                 code: retail / wholesale / dealer
  DemoSegment(erp_id, code, name, price_list_code)
  DemoPack(unit_okei, factor, barcode)                        factor base units in one pack
  DemoBatch(erp_id, number, expires_on)                       expires_on: date | None
  DemoProduct(erp_id, article, name, category_erp_id, unit_okei, kind, vat_rate, tracking,
              barcodes, packs, batches, components, prices)
      kind: goods / service / kit; vat_rate: "22" "10" "0" "5" "7" "none";
      tracking: none / batch; components: ((component article, quantity per kit), …);
      prices: ((price list code, amount), …) with dealer < wholesale < retail
  DemoStock(product_article, warehouse_code, batch_number, on_hand, reserved, expected)
      base units; batch_number None unless the product is batch-tracked
  DemoCounterparty(erp_id, kind, name, full_name, inn, kpp, ogrn, segment_code,
                   legal_address, actual_address, phones, emails)
      kind: legal / entrepreneur / individual; phones as people write them (not normalised)
  DemoCompany(units, categories, warehouses, price_lists, segments, products, stock, counterparties)

`demo_company()` returns the ~300-product company; `generate_scale(n, …)` yields the same record
shapes lazily (reference data first, then each DemoProduct followed by its DemoStock rows).
"""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

NAMESPACE = uuid.UUID("6f1c9a52-3d7e-5b8a-9c41-2e0d7f5a1b36")
SEED = 20260101
CENTS = Decimal("0.01")


def erp_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


@dataclass(frozen=True)
class DemoUnit:
    okei_code: str
    name: str
    short_name: str


@dataclass(frozen=True)
class DemoCategory:
    erp_id: str
    name: str
    parent_erp_id: str | None = None


@dataclass(frozen=True)
class DemoWarehouse:
    erp_id: str
    code: str
    name: str
    address: str


@dataclass(frozen=True)
class DemoPriceList:
    erp_id: str
    code: str
    name: str
    currency: str = "RUB"


@dataclass(frozen=True)
class DemoSegment:
    erp_id: str
    code: str
    name: str
    price_list_code: str


@dataclass(frozen=True)
class DemoPack:
    unit_okei: str
    factor: Decimal
    barcode: str = ""


@dataclass(frozen=True)
class DemoBatch:
    erp_id: str
    number: str
    expires_on: date | None = None


@dataclass(frozen=True)
class DemoProduct:
    erp_id: str
    article: str
    name: str
    category_erp_id: str
    unit_okei: str
    kind: str = "goods"
    vat_rate: str = "22"
    tracking: str = "none"
    barcodes: tuple[str, ...] = ()
    packs: tuple[DemoPack, ...] = ()
    batches: tuple[DemoBatch, ...] = ()
    components: tuple[tuple[str, Decimal], ...] = ()
    prices: tuple[tuple[str, Decimal], ...] = ()


@dataclass(frozen=True)
class DemoStock:
    product_article: str
    warehouse_code: str
    batch_number: str | None
    on_hand: Decimal
    reserved: Decimal
    expected: Decimal


@dataclass(frozen=True)
class DemoCounterparty:
    erp_id: str
    kind: str
    name: str
    full_name: str = ""
    inn: str = ""
    kpp: str = ""
    ogrn: str = ""
    segment_code: str = ""
    legal_address: str = ""
    actual_address: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoCompany:
    units: tuple[DemoUnit, ...]
    categories: tuple[DemoCategory, ...]
    warehouses: tuple[DemoWarehouse, ...]
    price_lists: tuple[DemoPriceList, ...]
    segments: tuple[DemoSegment, ...]
    products: tuple[DemoProduct, ...]
    stock: tuple[DemoStock, ...]
    counterparties: tuple[DemoCounterparty, ...]


# --- reference data -----------------------------------------------------------------------------

UNITS = (
    DemoUnit("796", "штука", "шт"),
    DemoUnit("006", "метр", "м"),
    DemoUnit("166", "килограмм", "кг"),
    DemoUnit("778", "упаковка", "упак"),
    DemoUnit("736", "рулон", "рул"),
    DemoUnit("704", "набор", "набор"),
    DemoUnit("876", "условная единица", "усл. ед"),
)
PCS, M, KG, PACK, REEL, SET, SERVICE_UNIT = (u.okei_code for u in UNITS)

CATEGORY_NAMES = {
    "cable": "Кабели и провода",
    "breakers": "Автоматические выключатели и УЗО",
    "wiring": "Розетки и выключатели",
    "lighting": "Лампы и светильники",
    "channels": "Кабель-каналы и трубы",
    "tools": "Инструмент",
    "fixings": "Монтажные материалы",
    "panels": "Щиты и боксы",
    "other": "Прочие товары",
    "kits": "Комплекты",
    "services": "Услуги",
}
CATEGORIES = tuple(DemoCategory(erp_id("category", key), name) for key, name in CATEGORY_NAMES.items())
CAT = {key: erp_id("category", key) for key in CATEGORY_NAMES}

WAREHOUSES = (
    DemoWarehouse(erp_id("warehouse", "MSK"), "MSK", "Москва", "г. Москва, ул. Складочная, д. 1, стр. 6"),
    DemoWarehouse(erp_id("warehouse", "SPB"), "SPB", "Санкт-Петербург", "г. Санкт-Петербург, Софийская ул., д. 14"),
    DemoWarehouse(erp_id("warehouse", "EKB"), "EKB", "Екатеринбург", "г. Екатеринбург, ул. Монтёров, д. 5"),
)
PRICE_LISTS = (
    DemoPriceList(erp_id("price_list", "retail"), "retail", "Розничная"),
    DemoPriceList(erp_id("price_list", "wholesale"), "wholesale", "Оптовая"),
    DemoPriceList(erp_id("price_list", "dealer"), "dealer", "Дилерская"),
)
SEGMENTS = (
    DemoSegment(erp_id("segment", "retail"), "retail", "Розница", "retail"),
    DemoSegment(erp_id("segment", "wholesale"), "wholesale", "Опт", "wholesale"),
    DemoSegment(erp_id("segment", "dealer"), "dealer", "Дилеры", "dealer"),
)
PRICE_FACTORS = {"retail": Decimal("1"), "wholesale": Decimal("0.88"), "dealer": Decimal("0.80")}


# --- check digits -------------------------------------------------------------------------------


def ean13(body12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def _mod11(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10)


def inn10(body9: str) -> str:
    return body9 + _mod11(body9, (2, 4, 10, 3, 5, 9, 4, 6, 8))


def inn12(body10: str) -> str:
    d11 = _mod11(body10, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
    return body10 + d11 + _mod11(body10 + d11, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))


def ogrn13(body12: str) -> str:
    return body12 + str(int(body12) % 11 % 10)


def ogrnip15(body14: str) -> str:
    return body14 + str(int(body14) % 13 % 10)


# --- products -----------------------------------------------------------------------------------


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENTS, rounding=ROUND_HALF_UP)


def prices_for(retail: Decimal, price_lists: tuple[DemoPriceList, ...] = PRICE_LISTS) -> tuple:
    factors = list(PRICE_FACTORS.values())
    return tuple(
        (pl.code, money(retail * (factors[i] if i < len(factors) else factors[-1] - Decimal("0.02") * i)))
        for i, pl in enumerate(price_lists)
    )


@dataclass(frozen=True)
class _Item:
    """A product before ids, barcodes and prices are attached."""

    article: str
    name: str
    category: str
    unit: str
    retail: Decimal
    packs: tuple[tuple[str, Decimal], ...] = ()
    kind: str = "goods"
    vat_rate: str = "22"
    tracking: str = "none"
    components: tuple[tuple[str, Decimal], ...] = ()


def _decimal(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _cables() -> Iterator[_Item]:
    kinds = (
        ("ВВГнг(А)-LS", "Кабель", "VVGNG", ((2, 1.5), (3, 1.5), (3, 2.5), (3, 4), (3, 6), (5, 1.5), (5, 2.5),
                                           (5, 4), (5, 6), (3, 10)), "0,66 кВ"),
        ("NYM", "Кабель", "NYM", ((2, 1.5), (3, 1.5), (3, 2.5), (5, 2.5)), "0,66 кВ"),
        ("ПВС", "Провод", "PVS", ((2, 0.75), (2, 1.5), (3, 0.75), (3, 1.5), (3, 2.5)), "белый"),
        ("ШВВП", "Провод", "SHVVP", ((2, 0.5), (2, 0.75)), "белый"),
        ("КГтп-ХЛ", "Кабель", "KGTP", ((3, 2.5), (4, 4)), "0,66 кВ"),
    )
    for mark, noun, code, sizes, suffix in kinds:
        for cores, section in sizes:
            retail = money(cores * section * 11 + 14)
            reel = Decimal("100") if cores * section <= 15 else Decimal("50")
            yield _Item(f"{code}-{cores}X{section:g}", f"{noun} {mark} {cores}х{_decimal(section)} мм² {suffix}",
                        "cable", M, retail, ((REEL, reel),))
    colors = (("белый", "W"), ("синий", "BU"), ("жёлто-зелёный", "YG"))
    for section in (1.5, 2.5, 4, 6):
        for color, ccode in colors:
            yield _Item(f"PUGV-1X{section:g}-{ccode}", f"Провод ПуГВ 1х{_decimal(section)} мм² {color}",
                        "cable", M, money(section * 9 + 6), ((REEL, Decimal("100")),))


def _breakers() -> Iterator[_Item]:
    currents = (6, 10, 16, 20, 25, 32, 40, 63)
    box = {1: Decimal("12"), 2: Decimal("6"), 3: Decimal("4")}
    for poles in (1, 2, 3):
        for current in currents:
            curve = "B" if current <= 10 and poles == 1 else "C"
            yield _Item(f"MVA20-{poles}-{current:03d}-{curve}",
                        f"Автоматический выключатель ВА47-29 {poles}P {curve}{current} 4,5 кА IEK", "breakers", PCS,
                        money(150 * poles + current * 2.5), ((PACK, box[poles]),))
    for poles in (1, 3):
        for current in currents:
            yield _Item(f"mcb4763-{poles}-{current:02d}C-pro",
                        f"Автоматический выключатель ВА 47-63 {poles}P C{current} 4,5 кА PROxima EKF", "breakers", PCS,
                        money(130 * poles + current * 2), ((PACK, box[poles]),))
    for poles, series in ((1, "S201"), (3, "S203")):
        for current in (6, 10, 16, 25, 32, 40):
            yield _Item(f"2CDS25{poles}001R0{current:03d}4", f"Автоматический выключатель ABB {series} C{current} 6 кА",
                        "breakers", PCS, money(520 * poles + current * 6), ((PACK, box[poles]),))
    for poles in (2, 4):
        for current in (16, 25, 32, 40, 63):
            yield _Item(f"MDV10-{poles}-{current:03d}-030",
                        f"Выключатель дифференциального тока (УЗО) ВД1-63 {poles}P {current}А 30мА IEK", "breakers",
                        PCS, money(600 * poles // 2 + current * 9), ((PACK, Decimal("6" if poles == 2 else "3")),))
    for current in (6, 10, 16, 20, 25, 32):
        yield _Item(f"MAD22-5-{current:03d}-C-30",
                    f"Дифференциальный автомат АД12 1P+N C{current} 30мА IEK", "breakers", PCS,
                    money(980 + current * 8), ((PACK, Decimal("6")),))


def _wiring() -> Iterator[_Item]:
    series = (("Legrand Etika", "LGE", 1.0), ("Schneider Electric AtlasDesign", "ATN", 1.25), ("Werkel Aluminium", "WL", 1.6))
    items = (
        ("Розетка с заземлением", "SOCK1", 260),
        ("Розетка двойная с заземлением", "SOCK2", 520),
        ("Выключатель одноклавишный", "SW1", 230),
        ("Выключатель двухклавишный", "SW2", 310),
        ("Рамка 1-местная", "FR1", 90),
        ("Рамка 2-местная", "FR2", 170),
        ("Рамка 3-местная", "FR3", 260),
    )
    colors = (("белый", "WH"), ("бежевый", "BG"), ("антрацит", "AN"))
    for brand, bcode, factor in series:
        for title, icode, price in items:
            for color, ccode in colors:
                box = Decimal("20") if icode.startswith("FR") else Decimal("10")
                yield _Item(f"{bcode}-{icode}-{ccode}", f"{title} {brand}, {color}", "wiring", PCS,
                            money(price * factor), ((PACK, box),))


def _lighting() -> Iterator[_Item]:
    for brand, bcode, factor, tracked in (("Gauss", "GS", 1.3, True), ("Navigator", "NV", 1.0, False),
                                          ("ЭРА", "ERA", 0.9, False)):
        for watt in (7, 10, 12, 15):
            for kelvin in (3000, 4000):
                yield _Item(f"{bcode}-A60-{watt}W-{kelvin}", f"Лампа светодиодная A60 {watt} Вт E27 {kelvin}K {brand}",
                            "lighting", PCS, money((80 + watt * 6) * factor), ((PACK, Decimal("10")),),
                            tracking="batch" if tracked else "none")
        for kelvin in (3000, 4000):
            yield _Item(f"{bcode}-C37-6W-{kelvin}", f"Лампа светодиодная C37 «свеча» 6 Вт E14 {kelvin}K {brand}",
                        "lighting", PCS, money(110 * factor), ((PACK, Decimal("10")),),
                        tracking="batch" if tracked else "none")
    fixtures = (
        ("LED-DPO-36-1200", "Светильник светодиодный ДПО 36 Вт 4000K 1200 мм IP40", 1450),
        ("LED-DPO-18-600", "Светильник светодиодный ДПО 18 Вт 4000K 600 мм IP40", 890),
        ("LED-PNL-595-36", "Панель светодиодная 595×595 мм 36 Вт 4000K", 1350),
        ("LED-PNL-595-40", "Панель светодиодная 595×595 мм 40 Вт 6500K", 1490),
        ("LED-SPP-18-IP65", "Светильник пылевлагозащищённый ССП 18 Вт IP65", 990),
        ("LED-SPP-36-IP65", "Светильник пылевлагозащищённый ССП 36 Вт IP65", 1390),
        ("LED-FL-30-IP65", "Прожектор светодиодный 30 Вт 6500K IP65", 790),
        ("LED-FL-50-IP65", "Прожектор светодиодный 50 Вт 6500K IP65", 1190),
        ("LED-FL-100-IP65", "Прожектор светодиодный 100 Вт 6500K IP65", 2390),
        ("LED-DLT-12-R", "Светильник светодиодный встраиваемый круглый 12 Вт 4000K", 420),
    )
    for article, name, price in fixtures:
        yield _Item(article, name, "lighting", PCS, money(price))
    for brand, bcode, factor in (("Duracell", "DUR", 1.4), ("GP", "GP", 1.0)):
        for size, iec, price in (("AA", "LR6", 45), ("AAA", "LR03", 42), ("C", "LR14", 95), ("D", "LR20", 120),
                                 ("9V «Крона»", "6LR61", 190), ("CR2032", "CR2032", 60)):
            yield _Item(f"{bcode}-{iec}", f"Батарейка {size} {iec} алкалиновая {brand}", "lighting", PCS,
                        money(price * factor), ((PACK, Decimal("4")),), tracking="batch")


def _channels() -> Iterator[_Item]:
    for width, height in ((12, 12), (16, 16), (25, 16), (25, 25), (40, 25), (40, 40), (60, 40), (100, 60)):
        for color, ccode in (("белый", "W"), ("коричневый", "BR")):
            yield _Item(f"KK-{width}X{height}-{ccode}", f"Кабель-канал {width}×{height} мм {color} DKC", "channels", M,
                        money(width * height * 0.05 + 20), ((PCS, Decimal("2")),))
    for diameter in (16, 20, 25, 32):
        reel = Decimal("100") if diameter <= 20 else Decimal("50")
        yield _Item(f"GOFR-PVC-{diameter}", f"Труба гофрированная ПВХ d{diameter} мм с протяжкой", "channels", M,
                    money(diameter * 0.9 + 4), ((REEL, reel),))


TOOLS = (
    ("TL-IND-250", "Отвёртка-индикатор 100–250 В", 190),
    ("TL-PLR-180", "Пассатижи 180 мм с изолированными рукоятками 1000 В", 890),
    ("TL-CUT-160", "Бокорезы 160 мм VDE 1000 В", 790),
    ("TL-STR-06", "Стриппер для зачистки проводов 0,2–6 мм²", 650),
    ("TL-DMM-830", "Мультиметр цифровой DT-830B", 590),
    ("TL-CLM-266", "Клещи токоизмерительные DT-266", 1890),
    ("TL-SCR-SET6", "Набор отвёрток диэлектрических 1000 В, 6 шт.", 1490),
    ("TL-KNF-01", "Нож монтёрский с изолированной рукояткой", 540),
    ("TL-CRM-NSHVI", "Кримпер для наконечников НШВИ 0,25–6 мм²", 1290),
    ("TL-LVL-60", "Уровень строительный 60 см", 490),
    ("TL-TAPE-5", "Рулетка 5 м", 310),
    ("TL-HMR-800", "Перфоратор SDS-plus 800 Вт", 6990),
    ("TL-DRL-18V", "Дрель-шуруповёрт аккумуляторная 18 В", 5490),
    ("TL-CRN-68", "Коронка по бетону 68 мм SDS-plus", 890),
    ("TL-BUR-6-110", "Бур SDS-plus 6×110 мм", 95),
    ("TL-BUR-8-160", "Бур SDS-plus 8×160 мм", 120),
    ("TL-SOC-TEST", "Тестер розеток с индикацией заземления", 690),
    ("TL-LMP-HEAD", "Фонарь налобный светодиодный", 590),
    ("TL-BAG-01", "Сумка монтажника", 1990),
    ("TL-CHS-125", "Штроборез 125 мм 1700 Вт", 11900),
)

FIXINGS = (
    ("IZ-19-20-BU", "Изолента ПВХ 19 мм × 20 м синяя", PCS, 65, ((PACK, "10"),)),
    ("IZ-19-20-BK", "Изолента ПВХ 19 мм × 20 м чёрная", PCS, 65, ((PACK, "10"),)),
    ("IZ-19-20-RD", "Изолента ПВХ 19 мм × 20 м красная", PCS, 65, ((PACK, "10"),)),
    ("IZ-19-20-YG", "Изолента ПВХ 19 мм × 20 м жёлто-зелёная", PCS, 69, ((PACK, "10"),)),
    ("221-412", "Клемма WAGO 221-412 на 2 провода 0,2–4 мм²", PCS, 28, ((PACK, "50"),)),
    ("221-413", "Клемма WAGO 221-413 на 3 провода 0,2–4 мм²", PCS, 34, ((PACK, "50"),)),
    ("221-415", "Клемма WAGO 221-415 на 5 проводов 0,2–4 мм²", PCS, 46, ((PACK, "25"),)),
    ("HMT-200-36-W", "Хомут-стяжка 200×3,6 мм белая (упак. 100 шт.)", PACK, 120, ()),
    ("HMT-300-48-BK", "Хомут-стяжка 300×4,8 мм чёрная (упак. 100 шт.)", PACK, 260, ()),
    ("GML-1.5", "Гильза медная луженая ГМЛ 1,5 мм²", PCS, 4.5, ((PACK, "100"),)),
    ("GML-2.5", "Гильза медная луженая ГМЛ 2,5 мм²", PCS, 5.2, ((PACK, "100"),)),
    ("GML-4", "Гильза медная луженая ГМЛ 4 мм²", PCS, 6.8, ((PACK, "100"),)),
    ("NSHVI-0.75-8", "Наконечник-гильза НШВИ 0,75–8", PCS, 1.1, ((PACK, "100"),)),
    ("NSHVI-1.5-8", "Наконечник-гильза НШВИ 1,5–8", PCS, 1.3, ((PACK, "100"),)),
    ("NSHVI-2.5-8", "Наконечник-гильза НШВИ 2,5–8", PCS, 1.6, ((PACK, "100"),)),
    ("PRV-VZ-1.2", "Проволока вязальная 1,2 мм", KG, 210, ()),
    ("TUT-6-3-BK", "Трубка термоусадочная 6/3 мм чёрная", M, 18, ((REEL, "100"),)),
    ("TUT-10-5-BK", "Трубка термоусадочная 10/5 мм чёрная", M, 24, ((REEL, "100"),)),
    ("DH-5-10", "Дюбель-хомут для кабеля 5–10 мм", PCS, 3.2, ((PACK, "100"),)),
    ("DH-11-18", "Дюбель-хомут для кабеля 11–18 мм", PCS, 4.1, ((PACK, "100"),)),
    ("KU-68-45", "Коробка установочная 68×45 мм для бетона", PCS, 12, ((PACK, "20"),)),
    ("KU-68-GKL", "Коробка установочная 68×45 мм для гипсокартона", PCS, 16, ((PACK, "20"),)),
    ("KR-100-50-IP55", "Коробка распаячная 100×100×50 мм IP55", PCS, 110, ((PACK, "20"),)),
    ("KR-80-IP54", "Коробка распаячная круглая d80 мм IP54", PCS, 75, ((PACK, "20"),)),
    ("SHINA-N-12", "Шина нулевая N 6×9 мм на 12 отверстий", PCS, 95, ((PACK, "10"),)),
)

PANELS = (
    ("SHRN-P-4", "Бокс ЩРН-П-4 модуля навесной IP41", 290),
    ("SHRN-P-8", "Бокс ЩРН-П-8 модулей навесной IP41", 420),
    ("SHRN-P-12", "Бокс ЩРН-П-12 модулей навесной IP41", 560),
    ("SHRV-P-18", "Бокс ЩРВ-П-18 модулей встраиваемый IP41", 890),
    ("SHRV-P-24", "Бокс ЩРВ-П-24 модуля встраиваемый IP41", 1190),
    ("SHRN-M-36", "Щит распределительный металлический ЩРн-36 IP31", 3490),
    ("DIN-35-1M", "DIN-рейка 35 мм оцинкованная, 1 м", 140),
    ("KLM-ZNI-4", "Зажим наборный ЗНИ-4 мм² серый", 32),
)

SERVICES = (
    ("SRV-DLV-MSK", "Доставка по Москве", 1500, "22"),
    ("SRV-DLV-SPB", "Доставка по Санкт-Петербургу", 1400, "22"),
    ("SRV-DLV-EKB", "Доставка по Екатеринбургу", 1200, "22"),
    ("SRV-MNT-POINT", "Монтаж электроточки", 900, "22"),
    ("SRV-MNT-PANEL", "Сборка электрощита до 24 модулей", 6500, "22"),
    ("SRV-DLV-EXPORT", "Доставка груза на экспорт (ЕАЭС)", 9000, "0"),
    ("SRV-EDU-EB2", "Обучение по электробезопасности (II группа)", 3500, "none"),
)

OTHER = (
    ("BK-SPR-EM", "Книга «Справочник электромонтажника»", 650, "10"),
    ("NL-KIDS-OWL", "Ночник детский светодиодный «Совёнок»", 490, "10"),
)

KITS = (
    ("KIT-ELECTRICIAN", "Комплект электрика", 2490,
     (("TL-IND-250", "1"), ("TL-PLR-180", "1"), ("TL-STR-06", "1"), ("IZ-19-20-BU", "2"))),
    ("KIT-FLAT-PANEL", "Комплект «Квартирный щит»", 3990,
     (("SHRN-P-12", "1"), ("MDV10-2-040-030", "1"), ("MVA20-1-016-C", "4"), ("MVA20-1-010-B", "2"))),
    ("KIT-ETIKA-WH-5", "Комплект розеток Legrand Etika белый (5 шт. с рамками)", 1690,
     (("LGE-SOCK1-WH", "5"), ("LGE-FR1-WH", "5"))),
    ("KIT-OFFICE-LIGHT", "Комплект освещения «Офис» (4 панели)", 5890,
     (("LED-PNL-595-36", "4"), ("221-413", "8"))),
)


def _items() -> Iterator[_Item]:
    yield from _cables()
    yield from _breakers()
    yield from _wiring()
    yield from _lighting()
    yield from _channels()
    for article, name, price in TOOLS:
        yield _Item(article, name, "tools", PCS, money(price))
    for article, name, unit, price, packs in FIXINGS:
        yield _Item(article, name, "fixings", unit, money(price), tuple((u, Decimal(f)) for u, f in packs))
    for article, name, price in PANELS:
        yield _Item(article, name, "panels", PCS, money(price))
    for article, name, price, vat in OTHER:
        yield _Item(article, name, "other", PCS, money(price), vat_rate=vat)
    for article, name, price, vat in SERVICES:
        yield _Item(article, name, "services", SERVICE_UNIT, money(price), kind="service", vat_rate=vat)
    for article, name, price, parts in KITS:
        yield _Item(article, name, "kits", SET, money(price), kind="kit",
                    components=tuple((a, Decimal(q)) for a, q in parts))
    # A deliberate duplicate for the product-duplicates demo: same name (spacing/case aside) and unit.
    yield _Item("VVG-3X2.5-OLD", "кабель ВВГнг(А)-LS  3х2,5 мм² 0,66 кВ", "cable", M, money("96.50"))


def _batches(article: str, rng: random.Random) -> tuple[DemoBatch, ...]:
    count = rng.choice((2, 3))
    result = []
    for n in range(count):
        number = f"{article[:6]}-{2025 + n // 2}{(3 + 4 * n) % 12 + 1:02d}"
        expires = date(2028 + n, (2 + 5 * n) % 12 + 1, 1)
        result.append(DemoBatch(erp_id("batch", f"{article}/{number}"), number, expires))
    return tuple(result)


def _product(item: _Item, index: int, rng: random.Random, price_lists=PRICE_LISTS) -> DemoProduct:
    barcodes: tuple[str, ...] = ()
    packs: tuple[DemoPack, ...] = ()
    if item.kind != "service":
        barcodes = (ean13(f"4607{index:08d}"),)
        packs = tuple(DemoPack(unit, factor, ean13(f"4608{index:06d}{n:02d}"))
                      for n, (unit, factor) in enumerate(item.packs))
    batches = _batches(item.article, rng) if item.tracking == "batch" else ()
    return DemoProduct(
        erp_id=erp_id("product", item.article),
        article=item.article,
        name=item.name,
        category_erp_id=CAT[item.category],
        unit_okei=item.unit,
        kind=item.kind,
        vat_rate=item.vat_rate,
        tracking=item.tracking,
        barcodes=barcodes,
        packs=packs,
        batches=batches,
        components=item.components,
        prices=prices_for(item.retail, price_lists),
    )


def _quantity(unit: str, low: int, high: int, rng: random.Random) -> Decimal:
    value = Decimal(rng.randint(low, high))
    if unit in (M, KG) and rng.random() < 0.3:
        value += Decimal("0.5")
    return value


def _stock(product: DemoProduct, warehouses, rng: random.Random) -> Iterator[DemoStock]:
    """Some zero, some low, some only expected; batches split the quantity."""
    if product.kind != "goods":
        return
    high = 3000 if product.unit_okei == M else 400
    for warehouse in warehouses:
        roll = rng.random()
        if roll < 0.10:
            on_hand = Decimal("0")
        elif roll < 0.22:
            on_hand = _quantity(product.unit_okei, 1, 5, rng)
        else:
            on_hand = _quantity(product.unit_okei, 20, high, rng)
        reserved = min(on_hand, Decimal(rng.randint(0, int(on_hand) // 5))) if on_hand >= 5 else Decimal("0")
        expected = Decimal(rng.randint(10, 200)) if rng.random() < 0.25 else Decimal("0")
        if not product.batches:
            yield DemoStock(product.article, warehouse.code, None, on_hand, reserved, expected)
            continue
        parts = len(product.batches)
        share = (on_hand / parts).to_integral_value(rounding="ROUND_FLOOR")
        for n, batch in enumerate(product.batches):
            last = n == parts - 1
            yield DemoStock(
                product.article, warehouse.code, batch.number,
                on_hand - share * (parts - 1) if last else share,
                reserved if n == 0 else Decimal("0"),
                expected if last else Decimal("0"),
            )


# --- counterparties -----------------------------------------------------------------------------

LEGAL = (
    # name, slug, region (77 Москва, 78 СПб, 66 Екатеринбург, 50 МО), form, segment, street
    ("Электромонтаж-Сервис", "elmontazh-service", "77", "ООО", "dealer", "ул. Нижняя Красносельская, д. 35"),
    ("СтройЭлектро", "stroyelectro", "77", "ООО", "wholesale", "Варшавское ш., д. 125"),
    ("Северная Энергия", "sever-energy", "78", "АО", "dealer", "Московский пр-т, д. 97"),
    ("УралЭлектроКомплект", "uralelk", "66", "ООО", "dealer", "ул. Фронтовых Бригад, д. 18"),
    ("Светлый Дом", "svetly-dom", "77", "ООО", "retail", "ул. Профсоюзная, д. 56"),
    ("ТехноСвет", "tehnosvet", "78", "ООО", "wholesale", "Лиговский пр-т, д. 50"),
    ("Энергоресурс", "energoresurs", "66", "ООО", "wholesale", "ул. Челюскинцев, д. 15"),
    ("Монолит-Строй", "monolit-stroy", "50", "ООО", "wholesale", "г. Химки, ул. Молодёжная, д. 4"),
    ("ГорСвет", "gorsvet", "77", "АО", "wholesale", "ул. Вавилова, д. 9"),
    ("Вольт Плюс", "voltplus", "78", "ООО", "retail", "ул. Седова, д. 11"),
    ("ЭлектроЛидер", "elleader", "77", "ООО", "dealer", "Рязанский пр-т, д. 24"),
    ("Ампер", "amper", "66", "ООО", "retail", "ул. Малышева, д. 71"),
    ("ИнжСтройМонтаж", "ingstroymontazh", "50", "ООО", "wholesale", "г. Подольск, ул. Кирова, д. 7"),
    ("Балтэлектро", "baltelectro", "78", "ООО", "dealer", "ул. Кронштадтская, д. 8"),
    ("Искра", "iskra-el", "77", "ООО", "retail", "ул. Большая Черкизовская, д. 5"),
    ("ПромЭнергоСнаб", "promenergosnab", "66", "АО", "wholesale", "ул. Машиностроителей, д. 19"),
    ("Столичные Сети", "stol-seti", "77", "ПАО", "wholesale", "Садовническая наб., д. 3"),
    ("Фаза-Ноль", "faza-nol", "78", "ООО", "retail", "пр-т Энгельса, д. 33"),
    ("КабельТорг", "kabeltorg", "50", "ООО", "dealer", "г. Мытищи, Олимпийский пр-т, д. 29"),
    ("Домострой", "domostroy", "66", "ООО", "retail", "ул. Луначарского, д. 81"),
    ("ЭнергоМир", "energomir", "77", "ООО", "wholesale", "ул. Электродная, д. 2"),
    ("Лампа и Свет", "lampaisvet", "78", "ООО", "retail", "ул. Марата, д. 42"),
    ("ЩитМастер", "shchitmaster", "66", "ООО", "wholesale", "ул. Викулова, д. 33"),
    ("Стройпоставка", "stroypostavka", "77", "ООО", "wholesale", "Каширское ш., д. 61"),
    ("Технополис", "technopolis", "50", "АО", "wholesale", "г. Балашиха, ш. Энтузиастов, д. 7"),
    ("Город Света", "gorodsveta", "77", "ООО", "retail", "ул. Бутырская, д. 46"),
    ("МонтажПроект", "montazhproekt", "78", "ООО", "wholesale", "ул. Савушкина, д. 83"),
    ("Электросила-Урал", "elsila-ural", "66", "ООО", "dealer", "ул. Карла Либкнехта, д. 22"),
    ("РемСтройСервис", "remstroyservice", "77", "ООО", "retail", "ул. Академика Королёва, д. 13"),
)
FORMS = {"ООО": "Общество с ограниченной ответственностью", "АО": "Акционерное общество",
         "ПАО": "Публичное акционерное общество"}
CITIES = {"77": "г. Москва", "78": "г. Санкт-Петербург", "66": "г. Екатеринбург", "50": "Московская обл."}
PHONE_CODES = {"77": "495", "78": "812", "66": "343", "50": "495"}

ENTREPRENEURS = (
    ("Смирнов Алексей Викторович", "smirnov.av", "77"),
    ("Кузнецова Ольга Петровна", "kuznetsova.op", "78"),
    ("Попов Дмитрий Игоревич", "popov.di", "66"),
    ("Васильев Сергей Николаевич", "vasiliev.sn", "50"),
    ("Новикова Марина Александровна", "novikova.ma", "77"),
    ("Фёдоров Андрей Юрьевич", "fedorov.ay", "78"),
    ("Морозов Илья Константинович", "morozov.ik", "66"),
    ("Волкова Татьяна Сергеевна", "volkova.ts", "77"),
    ("Алексеев Роман Олегович", "alekseev.ro", "50"),
    ("Лебедев Павел Андреевич", "lebedev.pa", "78"),
)

INDIVIDUALS = (
    # name, phone as written, e-mail as written
    ("Петров Пётр Сергеевич", "8 (916) 123-45-67", "petrov.ps@mail.ru"),
    ("Иванова Анна Михайловна", "+7 921 555 12 34", " Ivanova.Anna@Yandex.RU "),
    ("Соколов Максим Дмитриевич", "89031234567", ""),
    ("Михайлова Елена Викторовна", "", "e.mikhailova@gmail.com"),
    ("Николаев Артём Ильич", "+7(912)600-70-80", "artem.nikolaev@bk.ru"),
    ("Орлова Светлана Юрьевна", "8-926-111-22-33", ""),
    ("Захаров Владимир Петрович", "9857776655", "zakharov.vp@list.ru"),
    ("Егорова Наталья Игоревна", "+7 915 010 20 30", "n.egorova@inbox.ru"),
    ("Козлов Григорий Андреевич", "8 (909) 444-55-66", ""),
    ("Степанова Дарья Олеговна", "", "DARIA.STEPANOVA@Mail.Ru"),
)
# Deliberate duplicates for the merge demo: the same person, the same phone written differently.
INDIVIDUAL_DUPLICATES = (
    ("Петров П. С.", "+7 916 1234567", ""),
    ("Соколов Максим", "+7 (903) 123-45-67", "m.sokolov@yandex.ru"),
)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(count))


def _counterparties(rng: random.Random) -> Iterator[DemoCounterparty]:
    for n, (name, slug, region, form, segment, street) in enumerate(LEGAL):
        inn = inn10(region + f"{rng.randint(1, 43):02d}" + _digits(rng, 5))
        kpp = inn[:4] + "01001"
        ogrn = ogrn13(rng.choice("15") + f"{rng.randint(2, 24):02d}" + region + _digits(rng, 7))
        address = f"{rng.randint(100000, 199999) if region in ('77', '50') else rng.randint(190000, 199999) if region == '78' else rng.randint(620000, 620999)}, {CITIES[region]}, {street}"
        phone = f"+7 ({PHONE_CODES[region]}) {rng.randint(200, 799)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"
        yield DemoCounterparty(
            erp_id("counterparty", f"legal:{n}"), "legal", f"{form} «{name}»", f"{FORMS[form]} «{name}»",
            inn, kpp, ogrn, segment, address, address, (phone,), (f"info@{slug}.ru", f"zakaz@{slug}.ru"),
        )
        if n == 1:
            # A branch in Saint Petersburg: the same ИНН, its own КПП — not a duplicate.
            yield DemoCounterparty(
                erp_id("counterparty", "legal:branch"), "legal", f"{form} «{name}» (филиал СПб)",
                f"Филиал {FORMS[form].lower()} «{name}» в Санкт-Петербурге", inn, "781043001", ogrn, segment,
                address, "196084, г. Санкт-Петербург, ул. Заставская, д. 22", ("+7 (812) 640-12-12",),
                (f"spb@{slug}.ru",),
            )
    for n, (name, slug, region) in enumerate(ENTREPRENEURS):
        inn = inn12(region + _digits(rng, 8))
        # The first ИП has the ОГРНИП python-stdnum wrongly rejects (int(first 14) % 13 == 10).
        ogrnip = "304774000000050" if n == 0 else ogrnip15("3" + f"{rng.randint(4, 24):02d}" + region + _digits(rng, 9))
        yield DemoCounterparty(
            erp_id("counterparty", f"entrepreneur:{n}"), "entrepreneur", f"ИП {name}",
            f"Индивидуальный предприниматель {name}", inn, "", ogrnip, rng.choice(("retail", "wholesale")),
            f"{CITIES[region]}, ул. Садовая, д. {rng.randint(1, 90)}", "",
            (f"8 9{rng.choice(('03', '05', '16', '26', '85'))} {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",),
            (f"{slug}@mail.ru",),
        )
    for n, (name, phone, email) in enumerate(INDIVIDUALS + INDIVIDUAL_DUPLICATES):
        yield DemoCounterparty(
            erp_id("counterparty", f"individual:{n}"), "individual", name, name, "", "", "", "retail", "", "",
            (phone,) if phone else (), (email,) if email else (),
        )


@cache
def demo_company() -> DemoCompany:
    """The demo company (≈300 products, 3 warehouses, 3 price lists, 52 counterparties), always the same."""
    rng = random.Random(SEED)
    products = tuple(_product(item, n, rng) for n, item in enumerate(_items(), start=1))
    stock = tuple(s for p in products for s in _stock(p, WAREHOUSES, rng))
    return DemoCompany(
        units=UNITS,
        categories=CATEGORIES,
        warehouses=WAREHOUSES,
        price_lists=PRICE_LISTS,
        segments=SEGMENTS,
        products=products,
        stock=stock,
        counterparties=tuple(_counterparties(rng)),
    )


def generate_scale(products: int, warehouses: int = 5, price_lists: int = 3) -> Iterator[object]:
    """Benchmark seeding: yields units, categories, warehouses, price lists, segments, then each
    DemoProduct followed by its DemoStock rows — lazily, so 100,000 products never sit in memory."""
    rng = random.Random(SEED + products)
    yield from UNITS
    yield from CATEGORIES
    scale_warehouses = tuple(
        DemoWarehouse(erp_id("warehouse", f"W{n:02d}"), f"W{n:02d}", f"Склад {n:02d}", f"Склад № {n}")
        for n in range(1, warehouses + 1)
    )
    yield from scale_warehouses
    codes = [pl.code for pl in PRICE_LISTS] + [f"list{n}" for n in range(4, price_lists + 1)]
    scale_lists = tuple(DemoPriceList(erp_id("price_list", code), code, f"Прайс {code}") for code in codes[:price_lists])
    yield from scale_lists
    for pl in scale_lists:
        yield DemoSegment(erp_id("segment", pl.code), pl.code, f"Сегмент {pl.code}", pl.code)
    templates = [item for item in _items() if item.kind == "goods"]
    for n in range(1, products + 1):
        base = templates[n % len(templates)]
        item = _Item(f"SC-{n:07d}", f"{base.name} (арт. {n})", base.category, base.unit, base.retail, base.packs,
                     tracking=base.tracking)
        product = _product(item, n, rng, scale_lists)
        yield product
        yield from _stock(product, scale_warehouses, rng)
