"""MoySklad JSON ↔ our ERP dataclasses. Pure functions: no I/O, no Django models.

Wire facts (reference §3): money is kopecks as floats, dates are Moscow time `YYYY-MM-DD HH:MM:SS[.mmm]`,
references are `{"meta": {"href": …}}` whose href may carry a query (`?expand=supplier`),
`vat=0, vatEnabled=false` means "без НДС" while `vat=0, vatEnabled=true` is 0 %.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from integration.erp.types import (
    ErpBarcode,
    ErpBatch,
    ErpCategory,
    ErpCounterparty,
    ErpDocument,
    ErpDocumentLine,
    ErpKitComponent,
    ErpOrder,
    ErpOrderLine,
    ErpOrganization,
    ErpPack,
    ErpPayment,
    ErpPrice,
    ErpPriceList,
    ErpProduct,
    ErpShipment,
    ErpShipmentLine,
    ErpStockRow,
    ErpUnit,
    ErpWarehouse,
    OrderPushLine,
)

MSK = ZoneInfo("Europe/Moscow")
CENT = Decimal("0.01")
QTY = Decimal("0.001")
VAT_RATES = {"22", "10", "0", "5", "7"}
BARCODE_KINDS = ("ean13", "ean8", "code128", "gtin", "upc")


class MappingError(ValueError):
    """A MoySklad record we can't map; the message names the field and the reason."""


# --- scalars -----------------------------------------------------------------------------------


def roubles(kopecks: float | int | None) -> Decimal:
    """Kopecks (a float on the wire) → exact roubles: round to whole kopecks first, then divide."""
    if kopecks is None:
        return Decimal("0.00")
    whole = int(Decimal(repr(float(kopecks))).to_integral_value(rounding=ROUND_HALF_UP))
    return (Decimal(whole) / 100).quantize(CENT)


def kopecks(amount: Decimal) -> int:
    """Roubles → whole kopecks (half up), as MoySklad expects."""
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def quantity(value: float | int | None) -> Decimal:
    if value is None:
        return Decimal("0")
    return Decimal(repr(float(value))).quantize(QTY, rounding=ROUND_HALF_UP)


def wire_quantity(value: Decimal) -> float:
    return float(value)


def moment(value: str | None) -> datetime | None:
    """A MoySklad date-time (Moscow time, optional milliseconds) → an aware datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None or len(value) < 16 or value[10] != " ":
        raise MappingError(f"moment: {value!r} is not a MoySklad date-time")
    return parsed.replace(tzinfo=MSK)


def wire_moment(value: datetime) -> str:
    """An aware datetime → `YYYY-MM-DD HH:MM:SS.mmm` in Moscow time (for filters and fields)."""
    if value.tzinfo is None:
        raise MappingError("moment: naive datetimes are not accepted")
    local = value.astimezone(MSK)
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def vat_rate(vat: int | float | None, vat_enabled: bool | None) -> str:
    """(vat, vatEnabled) → catalog.VatRate value; "none" for без НДС."""
    if not vat_enabled:
        return "none"
    rate = str(int(vat or 0))
    if rate not in VAT_RATES:
        raise MappingError(f"vat: unsupported rate {rate}%")
    return rate


def vat_fields(rate: str) -> tuple[int, bool]:
    """catalog.VatRate value → MoySklad's (vat, vatEnabled)."""
    if rate == "none":
        return 0, False
    if rate not in VAT_RATES:
        raise MappingError(f"vat_rate: unsupported rate {rate!r}")
    return int(rate), True


def href_id(href: str) -> str:
    """The entity id at the end of an href's path (the query, e.g. `?expand=supplier`, is ignored)."""
    return href.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def ref_id(value: Any) -> str | None:
    """The id of a `{"meta": {"href": …}}` reference, or None."""
    if not isinstance(value, dict):
        return None
    href = (value.get("meta") or {}).get("href")
    return href_id(href) if href else value.get("id")


def ref_type(value: Any) -> str | None:
    return ((value or {}).get("meta") or {}).get("type") if isinstance(value, dict) else None


def meta_ref(base: str, kind: str, entity_id: str) -> dict:
    return {
        "meta": {"href": f"{base}/entity/{kind}/{entity_id}", "type": kind, "mediaType": "application/json"}
    }


# --- catalog -----------------------------------------------------------------------------------


def barcodes(raw: list[dict] | None) -> tuple[ErpBarcode, ...]:
    out = []
    for item in raw or []:
        for kind in BARCODE_KINDS:
            if item.get(kind):
                out.append(ErpBarcode(str(item[kind]).strip(), kind))
                break
    return tuple(out)


def unit(row: dict) -> ErpUnit:
    code = (row.get("code") or "").strip()
    if not code:
        raise MappingError(f"uom {row.get('id')}: code (ОКЕИ) is empty")
    return ErpUnit(
        erp_id=row["id"],
        okei_code=code,
        name=row.get("description") or row.get("name") or code,
        short_name=row.get("name") or code,
    )


def category(row: dict) -> ErpCategory:
    return ErpCategory(
        erp_id=row["id"], name=row.get("name") or row["id"], parent_erp_id=ref_id(row.get("productFolder"))
    )


def price_list(row: dict) -> ErpPriceList:
    return ErpPriceList(
        erp_id=row["id"], name=row.get("name") or row["id"], code=row.get("externalCode") or row["id"]
    )


def warehouse(row: dict) -> ErpWarehouse:
    return ErpWarehouse(
        erp_id=row["id"],
        name=row.get("name") or row["id"],
        code=row.get("code") or "",
        address=row.get("address") or "",
        archived=bool(row.get("archived")),
    )


def batch(row: dict) -> ErpBatch:
    product_id = ref_id(row.get("assortment"))
    if not product_id:
        raise MappingError(f"consignment {row.get('id')}: assortment is missing")
    return ErpBatch(
        erp_id=row["id"], product_erp_id=product_id, number=row.get("label") or row.get("name") or row["id"]
    )


def product(row: dict, *, kind: str | None = None) -> ErpProduct:
    """A product, service or bundle row → ErpProduct (bundles need `components` expanded or passed)."""
    wire_kind = ref_type(row) or "product"
    kind = kind or {"product": "goods", "service": "service", "bundle": "kit"}.get(wire_kind, "goods")
    name = (row.get("name") or "").strip()
    if not name:
        raise MappingError(f"{wire_kind} {row.get('id')}: name is empty")
    article = (row.get("article") or row.get("code") or "").strip() or row["id"]
    vat_enabled = row.get("effectiveVatEnabled", row.get("vatEnabled"))
    vat = row.get("effectiveVat", row.get("vat"))
    components: tuple[ErpKitComponent, ...] = ()
    if kind == "kit":
        component_rows = (row.get("components") or {}).get("rows")
        if component_rows is None:
            raise MappingError(f"bundle {row.get('id')}: components are not expanded")
        components = tuple(
            ErpKitComponent(
                component_erp_id=ref_id(c.get("assortment")) or "", quantity=quantity(c.get("quantity"))
            )
            for c in component_rows
        )
    return ErpProduct(
        erp_id=row["id"],
        article=article[:64],
        name=name[:500],
        kind=kind,
        unit_erp_id=ref_id(row.get("uom")),
        vat_rate=vat_rate(vat, vat_enabled),
        category_erp_id=ref_id(row.get("productFolder")),
        tracking="serial" if row.get("isSerialTrackable") else "none",
        archived=bool(row.get("archived")),
        description=row.get("description") or "",
        barcodes=barcodes(row.get("barcodes")),
        packs=tuple(
            ErpPack(
                erp_id=p.get("id") or "",
                unit_erp_id=ref_id(p.get("uom")) or "",
                factor=quantity(p.get("quantity")),
                barcodes=barcodes(p.get("barcodes")),
            )
            for p in row.get("packs") or []
        ),
        prices=tuple(
            ErpPrice(
                price_list_erp_id=ref_id(p.get("priceType")) or (p.get("priceType") or {}).get("id", ""),
                amount=roubles(p.get("value")),
            )
            for p in row.get("salePrices") or []
            if p.get("priceType")
        ),
        components=components,
        updated_at=moment(row.get("updated")),
    )


# --- stock -------------------------------------------------------------------------------------


def stock_bystore_row(row: dict, batches: dict[str, ErpBatch]) -> list[ErpStockRow]:
    """A `report/stock/bystore` row → one ErpStockRow per store; consignment rows carry their batch."""
    meta = row.get("meta") or {}
    assortment = href_id(meta.get("href", ""))
    if meta.get("type") == "consignment":
        known = batches.get(assortment)
        if known is None:
            raise MappingError(f"stock: consignment {assortment} is unknown (not in entity/consignment)")
        product_id, batch_id = known.product_erp_id, assortment
    else:
        product_id, batch_id = assortment, None
    return [
        ErpStockRow(
            product_erp_id=product_id,
            warehouse_erp_id=ref_id(cell) or "",
            on_hand=quantity(cell.get("stock")),
            reserved=quantity(cell.get("reserve")),
            expected=quantity(cell.get("inTransit")),
            batch_erp_id=batch_id,
        )
        for cell in row.get("stockByStore") or []
    ]


# --- counterparties ----------------------------------------------------------------------------


def counterparty(row: dict) -> ErpCounterparty:
    return ErpCounterparty(
        erp_id=row["id"],
        name=row.get("name") or "",
        kind=row.get("companyType") or "legal",
        inn=row.get("inn") or "",
        kpp=row.get("kpp") or "",
        ogrn=row.get("ogrnip") or row.get("ogrn") or "",
        full_name=row.get("legalTitle") or "",
        legal_address=row.get("legalAddress") or "",
        actual_address=row.get("actualAddress") or "",
        phone=row.get("phone") or "",
        email=row.get("email") or "",
        updated_at=moment(row.get("updated")),
    )


def counterparty_body(data: ErpCounterparty) -> dict:
    body: dict[str, Any] = {"name": data.name, "companyType": data.kind}
    for key, value in (
        ("inn", data.inn),
        ("kpp", data.kpp),
        ("legalTitle", data.full_name),
        ("legalAddress", data.legal_address),
        ("actualAddress", data.actual_address),
        ("phone", data.phone),
        ("email", data.email),
    ):
        if value:
            body[key] = value
    if data.ogrn:
        body["ogrnip" if data.kind == "entrepreneur" else "ogrn"] = data.ogrn
    return body


# --- orders and documents ----------------------------------------------------------------------


def position_body(base: str, line: OrderPushLine) -> dict:
    vat, vat_enabled = vat_fields(line.vat_rate)
    wire_kind = {"goods": "product", "service": "service", "kit": "bundle"}[line.kind]
    body = {
        "assortment": meta_ref(base, wire_kind, line.product_erp_id),
        "quantity": wire_quantity(line.quantity),
        "price": kopecks(line.price),
        "discount": float(line.discount_percent),
        "vat": vat,
        "vatEnabled": vat_enabled,
        "reserve": wire_quantity(line.reserve) if line.kind != "service" else 0,
    }
    return body


def order_line(row: dict) -> ErpOrderLine:
    return ErpOrderLine(
        erp_line_id=row.get("id") or "",
        product_erp_id=ref_id(row.get("assortment")) or "",
        kind={"product": "goods", "service": "service", "bundle": "kit"}.get(
            ref_type(row.get("assortment")) or "", "goods"
        ),
        quantity=quantity(row.get("quantity")),
        price=roubles(row.get("price")),
        discount_percent=Decimal(repr(float(row.get("discount") or 0))).quantize(CENT),
        vat_rate=vat_rate(row.get("vat"), row.get("vatEnabled", bool(row.get("vat")))),
        reserved=quantity(row.get("reserve")),
        shipped=quantity(row.get("shipped")),
    )


def order(row: dict, positions: list[dict], state: dict | None) -> ErpOrder:
    return ErpOrder(
        erp_id=row["id"],
        number=row.get("name") or "",
        external_code=row.get("externalCode") or "",
        state=(state or {}).get("name", ""),
        state_type=(state or {}).get("stateType", ""),
        updated_at=moment(row.get("updated")),
        counterparty_erp_id=ref_id(row.get("agent")),
        warehouse_erp_id=ref_id(row.get("store")),
        total=roubles(row.get("sum")),
        vat_total=roubles(row.get("vatSum")),
        paid_total=roubles(row.get("payedSum")),
        shipped_total=roubles(row.get("shippedSum")),
        lines=tuple(order_line(p) for p in positions),
    )


def document_line(row: dict, vat_enabled: bool) -> ErpDocumentLine:
    return ErpDocumentLine(
        quantity=quantity(row.get("quantity")),
        price=roubles(row.get("price")),
        discount_percent=Decimal(repr(float(row.get("discount") or 0))).quantize(CENT),
        vat_rate=vat_rate(row.get("vat"), vat_enabled and row.get("vatEnabled", bool(row.get("vat")))),
    )


def document(row: dict, kind: str, positions: list[dict] = ()) -> ErpDocument:
    issued = moment(row.get("moment"))
    vat_enabled = row.get("vatEnabled", True)
    return ErpDocument(
        erp_id=row["id"],
        kind=kind,
        number=row.get("name") or "",
        issued_on=issued.date() if issued else None,
        total=roubles(row.get("sum")),
        vat_total=roubles(row.get("vatSum")),
        order_erp_id=ref_id(row.get("customerOrder")),
        lines=tuple(document_line(p, vat_enabled) for p in positions),
        vat_included=row.get("vatIncluded", True),
    )


def shipment(row: dict, positions: list[dict]) -> ErpShipment:
    shipped_at = moment(row.get("moment")) or moment(row.get("updated"))
    if shipped_at is None:
        raise MappingError(f"demand {row.get('id')}: moment is missing")
    return ErpShipment(
        erp_id=row["id"],
        number=row.get("name") or "",
        order_erp_id=ref_id(row.get("customerOrder")),
        shipped_at=shipped_at,
        total=roubles(row.get("sum")),
        lines=tuple(
            ErpShipmentLine(
                ref_id(p.get("assortment")) or "",
                quantity(p.get("quantity")),
                roubles(p["price"]) if p.get("price") is not None else None,
            )
            for p in positions
        ),
        updated_at=moment(row.get("updated")),
    )


def payment(row: dict) -> ErpPayment:
    paid_at = moment(row.get("moment")) or moment(row.get("updated"))
    if paid_at is None:
        raise MappingError(f"paymentin {row.get('id')}: moment is missing")
    order_id = ref_id(row.get("customerOrder"))
    for operation in row.get("operations") or []:
        if ref_type(operation) == "customerorder":
            order_id = ref_id(operation)
    return ErpPayment(
        erp_id=row["id"],
        number=row.get("name") or "",
        order_erp_id=order_id,
        paid_at=paid_at,
        amount=roubles(row.get("sum")),
        purpose=row.get("paymentPurpose") or "",
        updated_at=moment(row.get("updated")),
    )


def issued_on(value: str | None) -> date | None:
    parsed = moment(value)
    return parsed.date() if parsed else None


# --- our organization ----------------------------------------------------------------------------
ORGANIZATION_KINDS = {"legal": "legal", "entrepreneur": "entrepreneur"}


def organization(row: dict, accounts: list[dict]) -> ErpOrganization:
    """`entity/organization` (and its accounts) → our requisites; the default account, else the first."""
    account = next((a for a in accounts if a.get("isDefault")), accounts[0] if accounts else {})
    kind = ORGANIZATION_KINDS.get(row.get("companyType") or "legal", "legal")
    return ErpOrganization(
        erp_id=row["id"],
        name=(row.get("legalTitle") or row.get("name") or "").strip(),
        inn=row.get("inn") or "",
        kind=kind,
        kpp=(row.get("kpp") or "") if kind == "legal" else "",
        ogrn=(row.get("ogrn") if kind == "legal" else row.get("ogrnip")) or "",
        address=row.get("legalAddress") or row.get("actualAddress") or "",
        phone=row.get("phone") or "",
        bank_name=account.get("bankName") or "",
        bik=account.get("bic") or "",
        correspondent_account=account.get("correspondentAccount") or "",
        account=account.get("accountNumber") or "",
        director=row.get("director") or "",
        accountant=row.get("chiefAccountant") or "",
    )
