"""Load the demo company (or a benchmark-scale catalog) into the MoySklad emulator's storage."""

from __future__ import annotations

import gc
import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from integration.sandbox import demo_company as demo
from integration.sandbox.moysklad.storage import new_id, now_msk, stamp

if TYPE_CHECKING:
    from integration.sandbox.moysklad.emulator import MoySkladEmulator

UOM_DESCRIPTIONS = {
    "796": "Штука",
    "006": "Метр",
    "166": "Килограмм",
    "778": "Упаковка",
    "736": "Рулон",
    "704": "Набор",
    "876": "Условная единица",
}


def vat_fields(rate: str) -> tuple[int, bool]:
    """Our VAT rate → MoySklad's (vat, vatEnabled): "без НДС" is 0 with vatEnabled false."""
    return (0, False) if rate == "none" else (int(rate), True)


def kopecks(amount: Decimal) -> float:
    return float((amount * 100).to_integral_value())


class Loader:
    def __init__(self, emulator: MoySkladEmulator):
        self.em = emulator
        self.uom_by_okei: dict[str, str] = {}
        self.store_by_code: dict[str, str] = {}
        self.price_index: dict[str, int] = {}
        self.product_by_article: dict[str, str] = {}
        self.consignment_by_key: dict[tuple[str, str], str] = {}
        self.now = stamp()
        # Seeded records look edited over the past weeks (20 s apart), as a real catalog's `updated` are.
        self.history_start = now_msk() - timedelta(days=30)
        self.edits = 0

    def edited(self) -> str:
        self.edits += 1
        return stamp(self.history_start + timedelta(seconds=20 * self.edits))

    def add(self, record: object) -> None:
        if isinstance(record, demo.DemoUnit):
            self.unit(record)
        elif isinstance(record, demo.DemoCategory):
            self.category(record)
        elif isinstance(record, demo.DemoWarehouse):
            self.warehouse(record)
        elif isinstance(record, demo.DemoPriceList):
            self.price_list(record)
        elif isinstance(record, demo.DemoProduct):
            self.product(record)
        elif isinstance(record, demo.DemoStock):
            self.stock(record)
        elif isinstance(record, demo.DemoCounterparty):
            self.counterparty(record)

    def base(self) -> None:
        em = self.em
        currency_id = new_id("currency:RUB")
        em.currencies[currency_id] = {
            "id": currency_id,
            "name": "руб",
            "fullName": "Российский рубль",
            "code": "643",
            "isoCode": "RUB",
            "default": True,
            "archived": False,
            "updated": self.now,
        }
        org_id = new_id("organization:own")
        em.organizations[org_id] = {
            "id": org_id,
            "name": "ООО «ЭлектроСнаб»",
            "legalTitle": "Общество с ограниченной ответственностью «ЭлектроСнаб»",
            "companyType": "legal",
            "inn": "7701234560",
            "kpp": "770101001",
            "ogrn": "1027700000019",
            "payerVat": True,
            "legalAddress": "125009, г. Москва, ул. Тверская, д. 7, офис 12",
            "phone": "+7 495 123-45-67",
            "director": "Смирнов А. В.",
            "chiefAccountant": "Кузнецова Е. П.",
            "archived": False,
            "updated": self.now,
            "externalCode": "own",
            "_accounts": [
                {
                    "id": new_id("organization:own:account"),
                    "accountNumber": "40702810200000012345",
                    "bankName": "ПАО Сбербанк",
                    "bankLocation": "г. Москва",
                    "bic": "044525225",
                    "correspondentAccount": "30101810400000000225",
                    "isDefault": True,
                    "updated": self.now,
                }
            ],
        }

    def unit(self, unit: demo.DemoUnit) -> None:
        uom_id = new_id(f"uom:{unit.okei_code}")
        self.uom_by_okei[unit.okei_code] = uom_id
        self.em.uoms[uom_id] = {
            "id": uom_id,
            "name": unit.short_name,
            "description": UOM_DESCRIPTIONS.get(unit.okei_code, unit.name),
            "code": unit.okei_code,
            "externalCode": unit.okei_code,
            "updated": self.now,
        }

    def category(self, category: demo.DemoCategory) -> None:
        parent = category.parent_erp_id
        path = self.em.folders[parent]["_pathName"] + "/" + category.name if parent else category.name
        self.em.folders[category.erp_id] = {
            "id": category.erp_id,
            "name": category.name,
            "code": "",
            "externalCode": category.erp_id[:22],
            "archived": False,
            "updated": self.now,
            "productFolder": parent,
            "_pathName": path,
        }

    def warehouse(self, warehouse: demo.DemoWarehouse) -> None:
        self.store_by_code[warehouse.code] = warehouse.erp_id
        self.em.stores[warehouse.erp_id] = {
            "id": warehouse.erp_id,
            "name": warehouse.name,
            "code": warehouse.code,
            "externalCode": warehouse.code,
            "address": warehouse.address,
            "archived": False,
            "updated": self.now,
            "pathName": "",
        }

    def price_list(self, price_list: demo.DemoPriceList) -> None:
        self.price_index[price_list.code] = len(self.em.price_types)
        self.em.price_types.append(
            {"id": price_list.erp_id, "name": price_list.name, "externalCode": price_list.code}
        )

    def product(self, product: demo.DemoProduct) -> None:
        vat, vat_enabled = vat_fields(product.vat_rate)
        prices = [0.0] * len(self.em.price_types)
        for code, amount in product.prices:
            prices[self.price_index[code]] = kopecks(amount)
        record: dict[str, Any] = {
            "id": product.erp_id,
            "name": product.name,
            "code": product.article.lower(),
            "article": product.article,
            "externalCode": product.article,
            "description": "",
            "productFolder": product.category_erp_id,
            "uom": self.uom_by_okei[product.unit_okei],
            "_prices": prices,
            "_buy": round(prices[-1] * 0.7) if prices else 0.0,
            "vat": vat,
            "vatEnabled": vat_enabled,
            "archived": False,
            "updated": self.edited(),
            "barcodes": [{"ean13": code} for code in product.barcodes],
            "weight": 0.0,
        }
        self.product_by_article[product.article] = product.erp_id
        if product.kind == "kit":
            record["_components"] = [
                {
                    "id": new_id(f"component:{product.article}:{article}"),
                    "type": "product",
                    "assortment": self.product_by_article[article],
                    "quantity": float(quantity),
                }
                for article, quantity in product.components
            ]
            self.em.bundles[product.erp_id] = record
            return
        if product.kind == "service":
            record["barcodes"] = []
            self.em.services[product.erp_id] = record
            return
        record["_packs"] = [
            {
                "id": new_id(f"pack:{product.article}:{pack.unit_okei}"),
                "uom": self.uom_by_okei[pack.unit_okei],
                "quantity": float(pack.factor),
                "barcodes": [{"ean13": pack.barcode}] if pack.barcode else [],
            }
            for pack in product.packs
        ]
        record["_consignments"] = []
        for batch in product.batches:
            self.em.consignments[batch.erp_id] = {
                "id": batch.erp_id,
                "assortment": product.erp_id,
                "label": batch.number,
                "externalCode": batch.number,
                "updated": self.now,
                "expires": batch.expires_on.isoformat() if batch.expires_on else None,
            }
            record["_consignments"].append(batch.erp_id)
            self.consignment_by_key[(product.article, batch.number)] = batch.erp_id
        self.em.products[product.erp_id] = record

    def stock(self, row: demo.DemoStock) -> None:
        assortment = (
            self.consignment_by_key[(row.product_article, row.batch_number)]
            if row.batch_number
            else self.product_by_article[row.product_article]
        )
        key = (assortment, self.store_by_code[row.warehouse_code])
        if row.on_hand or row.expected:
            self.em.stock[key] = [float(row.on_hand), float(row.expected)]
        if row.reserved:
            self.em.reserves[key] += float(row.reserved)

    def counterparty(self, cp: demo.DemoCounterparty) -> None:
        record: dict[str, Any] = {
            "id": cp.erp_id,
            "name": cp.name,
            "companyType": cp.kind,
            "legalTitle": cp.full_name,
            "inn": cp.inn,
            "kpp": cp.kpp,
            "legalAddress": cp.legal_address,
            "actualAddress": cp.actual_address,
            "phone": cp.phones[0] if cp.phones else "",
            "email": cp.emails[0].strip() if cp.emails else "",
            "externalCode": cp.erp_id[:22],
            "archived": False,
            "updated": self.now,
            "created": self.now,
        }
        record["ogrnip" if cp.kind == "entrepreneur" else "ogrn"] = cp.ogrn
        segment = next((s for s in demo.demo_company().segments if s.code == cp.segment_code), None)
        price_type = demo.erp_id("price_list", segment.price_list_code) if segment else None
        if any(pt["id"] == price_type for pt in self.em.price_types):
            record["_priceType"] = price_type
        extra = [*((p, "") for p in cp.phones[1:]), *(("", e.strip()) for e in cp.emails[1:])]
        record["_contacts"] = [
            {
                "id": new_id(f"contact:{cp.erp_id}:{n}"),
                "name": f"Контактное лицо {n + 1}",
                "phone": phone,
                "email": email,
                "updated": self.now,
            }
            for n, (phone, email) in enumerate(extra)
        ]
        self.em.counterparties[cp.erp_id] = record


def seed(emulator: MoySkladEmulator, options: dict[str, Any]) -> dict[str, Any]:
    dataset = options.get("dataset", "demo")
    emulator.reset()
    loader = Loader(emulator)
    loader.base()
    if dataset == "demo":
        company = demo.demo_company()
        for group in (
            company.units,
            company.categories,
            company.warehouses,
            company.price_lists,
            company.products,
            company.stock,
            company.counterparties,
        ):
            for record in group:
                loader.add(record)
    elif dataset == "scale":
        load_scale(
            loader,
            int(options.get("products", 1000)),
            int(options.get("warehouses", 5)),
            int(options.get("price_lists", 3)),
        )
        for cp in demo.demo_company().counterparties:
            loader.counterparty(cp)
    else:
        raise ValueError(f"unknown dataset {dataset!r}: use 'demo' or 'scale'")
    return {
        "dataset": dataset,
        **{name: len(table) for name, table in emulator.tables.items() if table},
        "stock_rows": len(emulator.stock),
    }


SCALE_ID_BASE = uuid.UUID("5ca1e000-0000-4000-8000-000000000000").int


def _scale_id(kind: int, n: int) -> str:
    return str(uuid.UUID(int=SCALE_ID_BASE + (kind << 40) + n))


def load_scale(loader: Loader, products: int, warehouses: int, price_lists: int) -> None:
    """The benchmark catalog: reference data from demo_company.generate_scale, then `products` goods
    shaped like the demo's (units, packs, barcodes, VAT, batch tracking, three prices, stock in every
    store) — generated straight into the emulator's storage, about 100,000 products in a few seconds."""
    for record in demo.generate_scale(0, warehouses, price_lists):
        loader.add(record)
    gc.disable()  # millions of small containers: the cyclic collector would rescan them again and again
    try:
        _load_scale_products(loader, products)
    finally:
        gc.enable()
        gc.freeze()  # the catalog lives as long as the process: keep it out of future collections


def _load_scale_products(loader: Loader, products: int) -> None:
    em = loader.em
    stores = list(em.stores)
    price_count = len(em.price_types)
    templates = []
    for product in demo.demo_company().products:
        if product.kind != "goods":
            continue
        retail = kopecks(dict(product.prices).get("retail", product.prices[0][1]))
        factors = [1.0, 0.88, 0.8] + [0.78 - 0.02 * n for n in range(max(0, price_count - 3))]
        templates.append(
            (
                product,
                vat_fields(product.vat_rate),
                [float(round(retail * f)) for f in factors[:price_count]],
                [(loader.uom_by_okei[p.unit_okei], float(p.factor)) for p in product.packs],
            )
        )
    rng = random.Random(products)
    start = now_msk() - timedelta(days=30)
    for n in range(1, products + 1):
        template, (vat, vat_enabled), prices, packs = templates[n % len(templates)]
        product_id = _scale_id(1, n)
        article = f"SC-{n:07d}"
        record = {
            "id": product_id,
            "name": f"{template.name} (арт. {n})",
            "code": article.lower(),
            "article": article,
            "externalCode": article,
            "description": "",
            "productFolder": template.category_erp_id,
            "uom": loader.uom_by_okei[template.unit_okei],
            "_prices": list(prices),
            "_buy": prices[-1] * 0.7,
            "vat": vat,
            "vatEnabled": vat_enabled,
            "archived": False,
            "updated": stamp(start + timedelta(seconds=20 * n)),
            "barcodes": [{"ean13": demo.ean13(f"46{n:010d}")}],
            "weight": 0.0,
            "_packs": [
                {
                    "id": _scale_id(2, n * 4 + i),
                    "uom": uom,
                    "quantity": factor,
                    "barcodes": [{"ean13": demo.ean13(f"47{n * 4 + i:010d}")}],
                }
                for i, (uom, factor) in enumerate(packs)
            ],
            "_consignments": [],
        }
        em.products[product_id] = record
        batches = []
        if template.tracking == "batch":
            for i in range(2):
                batch_id = _scale_id(3, n * 4 + i)
                em.consignments[batch_id] = {
                    "id": batch_id,
                    "assortment": product_id,
                    "label": f"{article}-B{i + 1}",
                    "externalCode": f"{article}-B{i + 1}",
                    "updated": loader.now,
                    "expires": None,
                }
                batches.append(batch_id)
            record["_consignments"] = batches
        for store in stores:
            roll = rng.random()
            on_hand = 0.0 if roll < 0.1 else float(int(roll * 400))
            expected = float(int(roll * 1000) % 50) if roll > 0.75 else 0.0
            keys = [(b, store) for b in batches] or [(product_id, store)]
            share = float(int(on_hand // len(keys)))
            for i, key in enumerate(keys):
                part = on_hand - share * (len(keys) - 1) if i == len(keys) - 1 else share
                if part or (expected and i == 0):
                    em.stock[key] = [part, expected if i == 0 else 0.0]
            if on_hand >= 20 and roll > 0.5:
                em.reserves[keys[0]] += float(int(on_hand // 10))
