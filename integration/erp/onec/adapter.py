"""The 1C OData adapter: implements integration.erp.protocol.ErpAdapter over the standard OData interface.

Reads page through catalogs and registers (prices: `SliceLast` of the price register; stock: `Balance` of
`ТоварыНаСкладах`, `СвободныеОстатки` and `ЗаказыПоставщикам`). Standard OData has no change feed and catalogs
carry no modification date, so every list is read in full (`since` is ignored) and what did not change is skipped
by the importers (DataVersion/content hash); documents are polled by `Date`.

Writes follow УТ 11's model (additions §1.3): a client is a Партнер (Клиент) plus a Контрагент bound to it; an order
is `Document_ЗаказКлиента` with its whole `Товары` part in the body, then posted (`Post`) so its reserve is made.
Our order key goes into `НомерПоДаннымКлиента`, a field 1C keeps and users see (assumption: no business logic of
УТ 11 overwrites it); a retry after a lost response looks the order up by it before creating another. Cancel =
unpost (the reserve goes) + deletion mark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from integration.erp.onec import mappers
from integration.erp.onec.client import EMPTY_REF, OneCClient, any_of, cast, datetime_literal, guid, text
from integration.erp.onec.profile import Profile, detect_profile, profile_from_settings, store_profile
from integration.erp.types import (
    ErpBatch,
    ErpCategory,
    ErpCounterparty,
    ErpDocument,
    ErpKitComponent,
    ErpOrder,
    ErpOrganization,
    ErpPack,
    ErpPayment,
    ErpPrice,
    ErpPriceList,
    ErpProduct,
    ErpShipment,
    ErpStockChange,
    ErpStockRow,
    ErpUnit,
    ErpWarehouse,
    OrderPush,
)
from integration.errors import PermanentError
from integration.models import Backend

ORDERS = "Document_ЗаказКлиента"
INVOICES = "Document_СчетНаОплатуКлиенту"
SHIPMENTS = "Document_РеализацияТоваровУслуг"
BANK = "Document_ПоступлениеБезналичныхДенежныхСредств"
CASH = "Document_ПриходныйКассовыйОрдер"
PRODUCTS = "Catalog_Номенклатура"
PACKS = "Catalog_УпаковкиЕдиницыИзмерения"
ACCOUNTS = "Catalog_БанковскиеСчетаОрганизаций"
BANKS = "Catalog_КлассификаторБанков"
RESERVING = ("СоСклада", "Отгрузить")
NOT_RESERVING = "КОбеспечению"
PRODUCT_FIELDS = ("Ref_Key", "DataVersion", "DeletionMark", "Description", "Артикул", "Code", "Parent_Key",
                  "ТипНоменклатуры", "ЕдиницаИзмерения_Key", "Описание")
ORDER_FIELDS = ("Ref_Key", "DataVersion", "DeletionMark", "Number", "Date", "Posted", "Статус", "Контрагент_Key",
                "Склад_Key", "СуммаДокумента", "НомерПоДаннымКлиента", "Товары")
CENT = Decimal("0.01")


class OneCAdapter:
    def __init__(self, backend: Backend, client: OneCClient | None = None):
        self.backend = backend
        self.client = client or OneCClient(backend)
        self._profile: Profile | None = profile_from_settings(backend)
        self._vat_refs: dict[str, str] | None = None
        self._kinds: dict[str, str] = {}

    # ------------------------------------------------------------------ configuration
    def detect_profile(self) -> Profile:
        """Read `$metadata`, store the profile on the backend; MissingEntitySets names what to publish."""
        self._profile = detect_profile(self.client.metadata())
        store_profile(self.backend, self._profile)
        return self._profile

    @property
    def profile(self) -> Profile:
        return self._profile or self.detect_profile()

    def vat_refs(self) -> dict[str, str]:
        if self._vat_refs is None:
            self._vat_refs = {}
            if self.profile.vat_by_ref:
                for page in self.client.iter_pages("Catalog_СтавкиНДС"):
                    self._vat_refs.update({row["Ref_Key"]: mappers.vat_ref_rate(row) for row in page})
        return self._vat_refs

    def _vat_field(self, rate: str) -> dict:
        if self.profile.vat_by_ref:
            key = next((k for k, v in self.vat_refs().items() if v == rate), None)
            return {"СтавкаНДС_Key": key} if key else {}
        return {"СтавкаНДС": mappers.VAT_TO_ENUM.get(rate, "НДС22")}

    # ------------------------------------------------------------------ master data
    def iter_units(self) -> Iterator[ErpUnit]:
        # УТ 11 keeps units and packs in one catalog; units are its rows of type ЕдиницаИзмерения (assumption:
        # the enum's internal name).
        for page in self.client.iter_pages(PACKS, filter="ТипУпаковки eq 'ЕдиницаИзмерения'"):
            yield from (mappers.unit(row) for row in page if (row.get("Code") or "").strip())

    def iter_categories(self) -> Iterator[ErpCategory]:
        for page in self.client.iter_pages(PRODUCTS, select=("Ref_Key", "Description", "Parent_Key"),
                                           filter="IsFolder eq true"):
            yield from (mappers.category(row) for row in page)

    def iter_product_pages(self, *, since: datetime | None = None, on_size=None) -> Iterator[list[ErpProduct]]:
        """Goods and services (kits come from iter_bundles); marked for deletion = archived; `since` ignored;
        no `on_size` (the total would cost a $count request per listing)."""
        yield from self._products("ТипНоменклатуры ne 'Набор'")

    def iter_bundles(self, *, since: datetime | None = None, on_size=None) -> Iterator[list[ErpProduct]]:
        if not self.profile.kits:
            return
        components: dict[str, list[ErpKitComponent]] = {}
        for page in self.client.iter_pages("Catalog_ВариантыКомплектацииНоменклатуры",
                                           select=("Ref_Key", "Owner_Key", "Основной", "DeletionMark", "Товары")):
            for row in page:
                if row.get("DeletionMark") or (row["Owner_Key"] in components and not row.get("Основной")):
                    continue
                components[row["Owner_Key"]] = [
                    ErpKitComponent(component_erp_id=line["Номенклатура_Key"], quantity=mappers.decimal(line["Количество"]))
                    for line in row.get("Товары") or []]
        # Kits are few: their barcodes, packs and prices are read for each one, not the whole registers again.
        bare = {"barcodes": {}, "packs": {}, "prices": {}}
        for page in self._products("ТипНоменклатуры eq 'Набор'", extras=bare):
            kits = []
            for kit in page:
                extras = self._extras_of(kit.erp_id)
                kits.append(replace(
                    kit, components=tuple(components.get(kit.erp_id, ())),
                    barcodes=tuple(mappers.barcode(b) for b in extras["barcodes"][kit.erp_id]),
                    packs=tuple(extras["packs"][kit.erp_id]), prices=tuple(extras["prices"][kit.erp_id])))
            yield kits

    def fetch_product(self, kind: str, erp_id: str) -> ErpProduct:
        """One product read again (e.g. one an order names that the catalog does not have yet)."""
        found = [p for page in self._products(f"Ref_Key eq {guid(erp_id)}", extras=self._extras_of(erp_id))
                 for p in page]
        if not found:
            raise PermanentError(f"1C product {erp_id} does not exist", status=404)
        product = found[0]
        if product.kind == "kit" and self.profile.kits:
            variants = self.client.query("Catalog_ВариантыКомплектацииНоменклатуры",
                                         filter=f"Owner_Key eq {guid(erp_id)} and DeletionMark eq false",
                                         select=("Основной", "Товары"))
            variant = next((v for v in variants if v.get("Основной")), variants[0] if variants else {})
            product = replace(product, components=tuple(
                ErpKitComponent(component_erp_id=line["Номенклатура_Key"], quantity=mappers.decimal(line["Количество"]))
                for line in variant.get("Товары") or []))
        return product

    def _extras_of(self, erp_id: str) -> dict[str, dict[str, list]]:
        """Barcodes, packs and prices of one product (filtered reads instead of whole registers)."""
        extras = self._catalog_extras(product=erp_id)
        return {name: {erp_id: values.get(erp_id, [])} for name, values in extras.items()}

    def _products(self, kind_filter: str, extras: dict | None = None) -> Iterator[list[ErpProduct]]:
        extras = extras if extras is not None else self._catalog_extras()
        vat_refs = self.vat_refs()
        select = (*PRODUCT_FIELDS, "СтавкаНДС_Key" if self.profile.vat_by_ref else "СтавкаНДС")
        for page in self.client.iter_pages(PRODUCTS, select=select, filter=f"IsFolder eq false and {kind_filter}"):
            out = []
            for row in page:
                key = row["Ref_Key"]
                kind = mappers.KINDS.get(row.get("ТипНоменклатуры") or "", "goods")
                self._kinds[key] = kind
                out.append(ErpProduct(
                    erp_id=key, article=(row.get("Артикул") or row.get("Code") or "").strip(),
                    name=row.get("Description") or "", kind=kind, unit_erp_id=mappers.ref(row.get("ЕдиницаИзмерения_Key")),
                    vat_rate=mappers.vat_rate(row, vat_refs), category_erp_id=mappers.ref(row.get("Parent_Key")),
                    archived=bool(row.get("DeletionMark")), description=row.get("Описание") or "",
                    barcodes=tuple(mappers.barcode(b) for b in extras["barcodes"].get(key, ())),
                    packs=tuple(extras["packs"].get(key, ())), prices=tuple(extras["prices"].get(key, ()))))
            yield out

    def _catalog_extras(self, product: str | None = None) -> dict[str, dict[str, list]]:
        """Barcodes, packs and current prices of every product (or of one), read once per listing."""
        of_product = f"Номенклатура_Key eq {guid(product)}" if product else ""
        of_owner = f" and Владелец eq {cast(product, PRODUCTS)}" if product else ""
        barcodes: dict[str, list[str]] = defaultdict(list)
        pack_barcodes: dict[str, list[str]] = defaultdict(list)
        for page in self.client.iter_pages("InformationRegister_ШтрихкодыНоменклатуры", filter=of_product,
                                           select=("Штрихкод", "Номенклатура_Key", "Упаковка_Key"), orderby="Штрихкод"):
            for row in page:
                pack = mappers.ref(row.get("Упаковка_Key"))
                (pack_barcodes[pack] if pack else barcodes[row["Номенклатура_Key"]]).append(row["Штрихкод"])
        packs: dict[str, list[ErpPack]] = defaultdict(list)
        for page in self.client.iter_pages(PACKS, filter="ТипУпаковки ne 'ЕдиницаИзмерения' and DeletionMark eq false"
                                           + of_owner,
                                           select=("Ref_Key", "Владелец", "Владелец_Type", "ЕдиницаИзмерения_Key",
                                                   "Числитель", "Знаменатель")):
            for row in page:
                if "Catalog_Номенклатура" not in (row.get("Владелец_Type") or ""):
                    continue  # packs of a pack set (НаборыУпаковок) are not read in this version
                denominator = mappers.decimal(row.get("Знаменатель")) or Decimal(1)
                packs[row["Владелец"]].append(ErpPack(
                    erp_id=row["Ref_Key"], unit_erp_id=row.get("ЕдиницаИзмерения_Key") or "",
                    factor=mappers.decimal(row.get("Числитель")) / denominator,
                    barcodes=tuple(mappers.barcode(b) for b in pack_barcodes.get(row["Ref_Key"], ()))))
        prices: dict[str, list[ErpPrice]] = defaultdict(list)
        now = datetime_literal(timezone.now())
        # The register itself, not its _RecordType (additions §0.6). 1C computes a virtual table again for every
        # $skip: pages in the order of its dimensions, so none loses or repeats a row (reference §1.3).
        condition = f",Condition={text(of_product)}" if product else ""
        for page in self.client.iter_pages(f"{self.profile.prices}/SliceLast(Period={now}{condition})",
                                           select=("Номенклатура_Key", "ВидЦены_Key", "Цена", "Упаковка_Key",
                                                   "Характеристика_Key"),
                                           orderby="Номенклатура_Key,ВидЦены_Key,Характеристика_Key"):
            for row in page:
                if mappers.ref(row.get("Характеристика_Key")) or mappers.ref(row.get("Упаковка_Key")):
                    continue  # per-characteristic and per-pack prices are not imported (base unit only)
                prices[row["Номенклатура_Key"]].append(
                    ErpPrice(price_list_erp_id=row["ВидЦены_Key"], amount=mappers.decimal(row["Цена"])))
        return {"barcodes": barcodes, "packs": packs, "prices": prices}

    def iter_price_lists(self) -> Iterator[ErpPriceList]:
        for page in self.client.iter_pages("Catalog_ВидыЦен", filter="DeletionMark eq false"):
            yield from (mappers.price_list(row) for row in page)

    def iter_warehouses(self) -> Iterator[ErpWarehouse]:
        for page in self.client.iter_pages("Catalog_Склады", filter="IsFolder eq false"):
            yield from (mappers.warehouse(row) for row in page)

    def iter_batches(self) -> Iterator[ErpBatch]:
        return iter(())  # series (Серии) are not read in this version: stock is per product and warehouse

    # ------------------------------------------------------------------ stock
    def _balances(self, condition: str = "") -> dict[tuple[str, str], dict[str, Decimal]]:
        """(product, warehouse) → on_hand / reserved / expected from the registers' Balance virtual tables."""
        dims = "Dimensions='Номенклатура,Склад'"
        cond = f",Condition={text(condition)}" if condition else ""
        out: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)

        def read(register: str, fields: dict[str, tuple[str, ...]]) -> None:
            # Ordered by the dimensions: each $skip is computed again (see _catalog_extras).
            for page in self.client.iter_pages(f"{register}/Balance({dims}{cond})",
                                               orderby="Номенклатура_Key,Склад_Key"):
                for row in page:
                    key = (row["Номенклатура_Key"], row["Склад_Key"])
                    for target, sources in fields.items():
                        value = sum((mappers.decimal(row.get(f"{s}Balance")) for s in sources), Decimal(0))
                        out[key][target] = out[key].get(target, Decimal(0)) + value

        if self.profile.free_stock:
            read("AccumulationRegister_ТоварыНаСкладах", {"on_hand": ("ВНаличии",)})
            read("AccumulationRegister_СвободныеОстатки", {"reserved": ("ВРезервеСоСклада", "ВРезервеПодЗаказ")})
        else:
            # Without СвободныеОстатки, "to ship" is the reserve (reference §0).
            read("AccumulationRegister_ТоварыНаСкладах", {"on_hand": ("ВНаличии",), "reserved": ("КОтгрузке",)})
        if self.profile.expected:
            read("AccumulationRegister_ЗаказыПоставщикам", {"expected": ("Заказано",)})
        return out

    def iter_stock(self) -> Iterator[list[ErpStockRow]]:
        """Every goods product × warehouse, one warehouse at a time (its three registers merged in memory, never
        the whole base); Balance tables omit zero balances, so the zero rows are added from the product list."""
        size = self.client.page_size
        goods = [row["Ref_Key"] for page in self.client.iter_pages(
            PRODUCTS, select=("Ref_Key",), filter="IsFolder eq false and ТипНоменклатуры eq 'Товар'") for row in page]
        for warehouse in self.iter_warehouses():
            balances = self._balances(f"Склад_Key eq {guid(warehouse.erp_id)}")
            for product in goods:  # a full snapshot names every goods product, zeros included
                balances.setdefault((product, warehouse.erp_id), {})
            page: list[ErpStockRow] = []
            for (product, place), values in balances.items():
                page.append(ErpStockRow(product_erp_id=product, warehouse_erp_id=place,
                                        on_hand=values.get("on_hand", Decimal(0)),
                                        reserved=values.get("reserved", Decimal(0)),
                                        expected=values.get("expected", Decimal(0))))
                if len(page) >= size:
                    yield page
                    page = []
            if page:
                yield page
            del balances

    def stock_changed_since(self, since: datetime) -> list[ErpStockChange]:
        """No change feed in standard OData: the current balances of everything (zeros are absent)."""
        return [ErpStockChange(assortment_erp_id=p, warehouse_erp_id=w, on_hand=v.get("on_hand", Decimal(0)),
                               reserved=v.get("reserved", Decimal(0)), expected=v.get("expected", Decimal(0)))
                for (p, w), v in self._balances().items()]

    def stock_for(self, assortment_erp_ids: Sequence[str]) -> list[ErpStockChange]:
        """Current stock of these products in every warehouse, zero rows included, ≤ 40 keys a Condition."""
        ids = [i for i in dict.fromkeys(assortment_erp_ids) if i]
        warehouses = [w.erp_id for w in self.iter_warehouses() if not w.archived]
        found: dict[tuple[str, str], dict[str, Decimal]] = {}
        for start in range(0, len(ids), self.client.key_batch):
            found.update(self._balances(any_of("Номенклатура_Key", ids[start:start + self.client.key_batch])))
        zero = Decimal(0)
        return [ErpStockChange(assortment_erp_id=p, warehouse_erp_id=w, on_hand=found.get((p, w), {}).get("on_hand", zero),
                               reserved=found.get((p, w), {}).get("reserved", zero),
                               expected=found.get((p, w), {}).get("expected", zero))
                for p in ids for w in warehouses]

    # ------------------------------------------------------------------ counterparties
    def _price_lists_of_partners(self) -> dict[str, str]:
        out = {}
        for page in self.client.iter_pages("Catalog_СоглашенияСКлиентами",
                                           select=("Ref_Key", "Партнер_Key", "ВидЦен_Key", "DeletionMark")):
            for row in page:
                if mappers.ref(row.get("Партнер_Key")) and not row.get("DeletionMark"):
                    out[row["Партнер_Key"]] = row.get("ВидЦен_Key")
        return out

    def iter_counterparties(self, *, since: datetime | None = None) -> Iterator[list[ErpCounterparty]]:
        """Контрагенты with the price type of their partner's agreement (all of them: no change date in 1C)."""
        prices = self._price_lists_of_partners()
        for page in self.client.iter_pages("Catalog_Контрагенты", filter="IsFolder eq false"):
            yield [mappers.counterparty(row, mappers.ref(prices.get(row.get("Партнер_Key") or ""))) for row in page]

    def find_counterparty(self, data: ErpCounterparty) -> ErpCounterparty | None:
        """ИНН (+КПП for an organisation); without ИНН the same name with the same phone or e-mail."""
        if data.inn:
            condition = f"ИНН eq {text(data.inn)}" + (f" and КПП eq {text(data.kpp)}" if data.kpp else "")
            rows = self.client.query("Catalog_Контрагенты", filter=f"{condition} and DeletionMark eq false", top=5)
            return mappers.counterparty(rows[0]) if rows else None
        rows = self.client.query("Catalog_Контрагенты", filter=f"Description eq {text(data.name)}", top=20)
        for row in rows:
            found = mappers.counterparty(row)
            if (data.phone and found.phone == data.phone) or (data.email and found.email == data.email):
                return found
        return None

    def create_counterparty(self, data: ErpCounterparty) -> ErpCounterparty:
        partner_body, company_body = mappers.counterparty_rows(data)
        # A partner left by a lost response of an earlier attempt is reused, not doubled.
        existing = self.client.query("Catalog_Партнеры", filter=f"Description eq {text(data.name)} and Клиент eq true",
                                     select=("Ref_Key",), top=1)
        partner = existing[0] if existing else self.client.create("Catalog_Партнеры", partner_body)
        created = self.client.create("Catalog_Контрагенты", {**company_body, "Партнер_Key": partner["Ref_Key"]})
        return mappers.counterparty(created)

    def ensure_counterparty(self, data: ErpCounterparty) -> ErpCounterparty:
        return self.find_counterparty(data) or self.create_counterparty(data)

    def fetch_organization(self) -> ErpOrganization:
        """Our organization with its main bank account (`Catalog_БанковскиеСчетаОрганизаций` →
        `Catalog_КлассификаторБанков` for БИК and корр. счёт); without those catalogs published, no account."""
        row = self.organization()
        account, bank = {}, {}
        if mappers.ref(row.get("ОсновнойБанковскийСчет_Key")):
            try:
                account = (self.client.by_keys(ACCOUNTS, [row["ОсновнойБанковскийСчет_Key"]]) or [{}])[0]
                if mappers.ref(account.get("Банк_Key")):
                    bank = (self.client.by_keys(BANKS, [account["Банк_Key"]]) or [{}])[0]
            except PermanentError as exc:
                if exc.status != 404:
                    raise
        return mappers.organization(row, account, bank)

    def organization(self) -> dict:
        """Our own legal entity (settings `organization_key`, else the first one)."""
        key = (self.backend.settings or {}).get("organization_key")
        rows = (self.client.by_keys("Catalog_Организации", [key]) if key else
                self.client.query("Catalog_Организации", filter="DeletionMark eq false", orderby="Code", top=1))
        if not rows:
            raise PermanentError("1C has no organization (Catalog_Организации) to sell from")
        return rows[0]

    # ------------------------------------------------------------------ orders
    def find_order(self, key: str) -> dict | None:
        rows = self.client.query(ORDERS, filter=f"НомерПоДаннымКлиента eq {text(key)}", select=ORDER_FIELDS, top=1)
        return rows[0] if rows else None

    def find_order_id(self, key: str) -> str | None:
        row = self.find_order(key)
        return row["Ref_Key"] if row else None

    def _agreement(self, partner: str) -> str:
        configured = (self.backend.settings or {}).get("agreement_key")
        if configured:
            return configured
        own = self.client.query("Catalog_СоглашенияСКлиентами",
                                filter=f"Партнер_Key eq {guid(partner)} and DeletionMark eq false", top=1)
        typical = own or self.client.query("Catalog_СоглашенияСКлиентами",
                                           filter="Типовое eq true and DeletionMark eq false", orderby="Code", top=1)
        return typical[0]["Ref_Key"] if typical else EMPTY_REF

    def _order_body(self, push: OrderPush) -> dict:
        counterparty = self.client.by_keys("Catalog_Контрагенты", [push.counterparty_erp_id],
                                           select=("Ref_Key", "Партнер_Key"))
        if not counterparty:
            raise PermanentError(f"counterparty {push.counterparty_erp_id} is not in 1C")
        partner = counterparty[0].get("Партнер_Key") or EMPTY_REF
        warehouse = push.warehouse_erp_id or EMPTY_REF
        settings = self.backend.settings or {}
        rows, total = [], Decimal(0)
        for n, line in enumerate(push.lines, start=1):
            gross = (line.quantity * line.price * (1 - line.discount_percent / 100)).quantize(CENT, ROUND_HALF_UP)
            percent = Decimal(0) if line.vat_rate == "none" else Decimal(line.vat_rate)
            vat = (gross * percent / (100 + percent)).quantize(CENT, ROUND_HALF_UP) if push.vat_included else (
                gross * percent / 100).quantize(CENT, ROUND_HALF_UP)
            with_vat = gross if push.vat_included else gross + vat
            total += with_vat
            rows.append({"LineNumber": n, "Номенклатура_Key": line.product_erp_id, "Характеристика_Key": EMPTY_REF,
                         "Склад_Key": warehouse, "Количество": float(line.quantity),
                         "КоличествоУпаковок": float(line.quantity), "Цена": float(line.price), "Сумма": float(gross),
                         "ПроцентРучнойСкидки": float(line.discount_percent), "СуммаНДС": float(vat),
                         "СуммаСНДС": float(with_vat),
                         "ВариантОбеспечения": RESERVING[0] if line.reserve > 0 and line.kind != "service"
                         else NOT_RESERVING, **self._vat_field(line.vat_rate)})
        body = {
            "Организация_Key": self.organization()["Ref_Key"], "Партнер_Key": partner,
            "Контрагент_Key": push.counterparty_erp_id, "Соглашение_Key": self._agreement(partner),
            "Склад_Key": warehouse, "ХозяйственнаяОперация": "РеализацияКлиенту",
            "Статус": settings.get("order_status", "КВыполнению"), "ЦенаВключаетНДС": push.vat_included,
            "Комментарий": push.comment, "АдресДоставки": push.delivery_address, "НомерПоДаннымКлиента": push.key,
            "СуммаДокумента": float(total), "Товары": rows,
        }
        return body

    def upsert_order(self, push: OrderPush) -> ErpOrder:
        """Create-or-update then post. Lost responses: the order is found by our key; posting again is harmless."""
        body = self._order_body(push)
        erp_id = push.erp_id
        if not erp_id:
            existing = self.find_order(push.key)
            erp_id = existing["Ref_Key"] if existing else None
        if erp_id:
            self.client.unpost_document(ORDERS, erp_id)  # re-posting replaces the reserve with the new lines
            self.client.update(ORDERS, erp_id, body)
        else:
            erp_id = self.client.create(ORDERS, {"Date": mappers.wire_date(timezone.now()), **body})["Ref_Key"]
        self.client.post_document(ORDERS, erp_id)
        return self.get_order(erp_id)

    def cancel_order(self, erp_id: str) -> ErpOrder:
        self.client.unpost_document(ORDERS, erp_id)
        self.client.update(ORDERS, erp_id, {"DeletionMark": True})
        return self.get_order(erp_id)

    def get_order(self, erp_id: str) -> ErpOrder:
        rows = self.client.by_keys(ORDERS, [erp_id], select=ORDER_FIELDS)
        if not rows:
            raise PermanentError(f"1C order {erp_id} does not exist", status=404)
        return self._orders(rows)[0]

    def _orders(self, rows: list[dict]) -> list[ErpOrder]:
        keys = [row["Ref_Key"] for row in rows]
        shipped: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for doc in self.client.by_keys(SHIPMENTS, keys, field="ЗаказКлиента_Key", extra_filter="Posted eq true",
                                       select=("Ref_Key", "ЗаказКлиента_Key", "Товары")):
            for line in doc.get("Товары") or []:
                shipped[doc["ЗаказКлиента_Key"]][line["Номенклатура_Key"]] += mappers.decimal(line["Количество"])
        paid: dict[str, Decimal] = defaultdict(Decimal)
        dates = [mappers.moment(row.get("Date")) for row in rows]
        for pay in self._payments_of(keys, since=min((d for d in dates if d), default=None)):
            paid[pay.order_erp_id or ""] += pay.amount
        self._known_kinds([line.get("Номенклатура_Key") for row in rows for line in row.get("Товары") or []])
        return [mappers.order(row, self.vat_refs(), self._kinds, shipped[row["Ref_Key"]], paid[row["Ref_Key"]],
                              RESERVING) for row in rows]

    def _known_kinds(self, products: list[str | None]) -> None:
        unknown = [p for p in dict.fromkeys(products) if p and p not in self._kinds]
        for row in self.client.by_keys(PRODUCTS, unknown, select=("Ref_Key", "ТипНоменклатуры")):
            self._kinds[row["Ref_Key"]] = mappers.KINDS.get(row.get("ТипНоменклатуры") or "", "goods")

    def iter_orders(self, *, since: datetime | None = None) -> Iterator[list[ErpOrder]]:
        """Orders we placed (those carrying our key) dated within `orders_horizon_days` (default 90): 1C gives
        no change date, so every poll reads them all and `since` is not used; older orders are settled."""
        days = int((self.backend.settings or {}).get("orders_horizon_days", 90))
        horizon = datetime_literal(timezone.now() - timedelta(days=days))
        for page in self.client.iter_pages(ORDERS, select=ORDER_FIELDS,
                                           filter=f"НомерПоДаннымКлиента ne '' and Date ge {horizon}"):
            yield self._orders(page) if page else []

    # ------------------------------------------------------------------ documents
    def create_invoice(self, order_erp_id: str, key: str = "") -> ErpDocument:
        """The order's invoice: the existing one (a redelivery, or one a 1C user made), else a new posted one; the
        basis document finds it again, so `key` is not needed. It carries its order's rows as read with it."""
        existing = self.client.query(INVOICES, filter=f"ДокументОснование eq {cast(order_erp_id, ORDERS)} and DeletionMark eq false",
                                     top=1)
        order = self._invoice_basis(order_erp_id)
        if existing:
            return mappers.invoice(existing[0], order, self.vat_refs())
        created = self.client.create(INVOICES, {
            "Date": mappers.wire_date(timezone.now()), "Организация_Key": order["Организация_Key"],
            "Контрагент_Key": order["Контрагент_Key"], "ДокументОснование": order_erp_id,
            "ДокументОснование_Type": f"StandardODATA.{ORDERS}", "СуммаДокумента": order["СуммаДокумента"]})
        self.client.post_document(INVOICES, created["Ref_Key"])
        return mappers.invoice(created, order, self.vat_refs())

    def _invoice_basis(self, order_erp_id: str) -> dict:
        order = self.client.by_keys(ORDERS, [order_erp_id], select=(
            "Ref_Key", "Организация_Key", "Контрагент_Key", "СуммаДокумента", "ЦенаВключаетНДС", "Товары"))
        if not order:
            raise PermanentError(f"1C order {order_erp_id} does not exist", status=404)
        return order[0]

    def get_document(self, wire: str, erp_id: str, kind: str) -> ErpDocument:
        """An invoice (`invoice`) with its basis order's rows, or a shipment's УПД/ТОРГ-12 (`shipment`) with its own."""
        entity_set = SHIPMENTS if wire == "shipment" else INVOICES
        rows = self.client.by_keys(entity_set, [erp_id])
        if not rows:
            raise PermanentError(f"1C document {erp_id} does not exist", status=404)
        if entity_set == SHIPMENTS:
            return mappers.shipment_document(rows[0], kind, self.vat_refs())
        basis = mappers.ref(rows[0].get("ДокументОснование"))
        return mappers.invoice(rows[0], self._invoice_basis(basis) if basis else None, self.vat_refs())

    def iter_invoices(self, *, since: datetime | None = None) -> Iterator[ErpDocument]:
        for page in self.client.iter_pages(INVOICES, filter=self._posted_since(since)):
            yield from (mappers.invoice(row) for row in page)

    def fetch_document_pdf(self, kind: str, erp_id: str) -> bytes:
        raise PermanentError("1C's standard OData has no print forms: the platform renders the document itself")

    @staticmethod
    def _posted_since(since: datetime | None) -> str:
        condition = "Posted eq true"
        return f"{condition} and Date ge {datetime_literal(since)}" if since else condition

    def iter_shipments(self, *, since: datetime | None = None) -> Iterator[ErpShipment]:
        for page in self.client.iter_pages(SHIPMENTS, filter=self._posted_since(since)):
            yield from (mappers.shipment(row) for row in page)

    def iter_payments(self, *, since: datetime | None = None) -> Iterator[ErpPayment]:
        for entity_set in (BANK, CASH) if self.profile.cash else (BANK,):
            for page in self.client.iter_pages(entity_set, filter=self._posted_since(since)):
                yield from (mappers.payment(row) for row in page)

    def _payments_of(self, order_keys: list[str], *, since: datetime | None) -> list[ErpPayment]:
        """Payments of these orders: posted on or after the oldest order's date (a payment's basis is in its
        tabular part, which a `$filter` reaches only with any(), 8.3.8+: filtered here instead)."""
        wanted = set(order_keys)
        return [p for p in self.iter_payments(since=since) if p.order_erp_id in wanted] if wanted else []
