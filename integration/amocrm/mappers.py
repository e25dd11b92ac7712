"""amoCRM records ↔ our data, field by field. Pure functions (no database, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Codes of the fields the integration creates in the account (predefined ones: SKU, PRICE, EXTERNAL_ID, PHONE…).
INN, KPP = "INN", "KPP"
ERP_STATUS, ERP_NUMBER, PAYMENT_STATUS, SHIPMENT_STATUS = (
    "AMOERP_STATUS", "AMOERP_NUMBER", "AMOERP_PAYMENT", "AMOERP_SHIPMENT")
NET_TOTAL = "AMOERP_NET_TOTAL"  # the order's total less what came back
UNIT, VAT, PACKS, BARCODE, STOCK = "AMOERP_UNIT", "AMOERP_VAT", "AMOERP_PACKS", "AMOERP_BARCODE", "AMOERP_STOCK"


def price_code(price_list_id: int) -> str:
    return f"AMOERP_PRICE_{price_list_id}"


def values_by_code(custom_fields_values: list[dict[str, Any]] | None) -> dict[str, list[Any]]:
    """{field_code or str(field_id): [value, …]} from the v4 read shape."""
    out: dict[str, list[Any]] = {}
    for item in custom_fields_values or []:
        key = item.get("field_code") or str(item.get("field_id"))
        out[key] = [v.get("value") for v in item.get("values") or [] if isinstance(v, dict)]
    return out


def first(values: dict[str, list[Any]], code: str) -> str:
    found = values.get(code) or []
    return str(found[0]).strip() if found and found[0] is not None else ""


def timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        return None


def decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("0")


@dataclass(frozen=True)
class LeadProduct:
    element_id: int
    catalog_id: int
    quantity: Decimal
    price_id: int | None = None


@dataclass(frozen=True)
class LeadSnapshot:
    id: int
    name: str
    status_id: int
    pipeline_id: int
    price: int
    updated_at: datetime | None
    company_id: int | None
    contact_ids: tuple[int, ...]
    main_contact_id: int | None
    products: tuple[LeadProduct, ...]

    def products_key(self) -> list[list[Any]]:
        return sorted([p.element_id, str(p.quantity.normalize())] for p in self.products)


def lead_snapshot(raw: dict[str, Any]) -> LeadSnapshot:
    embedded = raw.get("_embedded") or {}
    companies = embedded.get("companies") or []
    contacts = embedded.get("contacts") or []
    products = tuple(
        LeadProduct(element_id=int(item["id"]), catalog_id=int((item.get("metadata") or {}).get("catalog_id") or 0),
                    quantity=decimal((item.get("metadata") or {}).get("quantity", 1)),
                    price_id=(item.get("metadata") or {}).get("price_id"))
        for item in embedded.get("catalog_elements") or [])
    main = next((c["id"] for c in contacts if c.get("is_main")), contacts[0]["id"] if contacts else None)
    return LeadSnapshot(
        id=int(raw["id"]), name=str(raw.get("name") or ""), status_id=int(raw.get("status_id") or 0),
        pipeline_id=int(raw.get("pipeline_id") or 0), price=int(raw.get("price") or 0),
        updated_at=timestamp(raw.get("updated_at")), company_id=int(companies[0]["id"]) if companies else None,
        contact_ids=tuple(int(c["id"]) for c in contacts), main_contact_id=int(main) if main else None,
        products=products)


@dataclass(frozen=True)
class PartySnapshot:
    """A company or a contact of amoCRM, as the counterparty matcher needs it."""

    entity: str  # "companies" | "contacts"
    id: int
    name: str
    inn: str
    kpp: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    address: str
    updated_at: datetime | None


def party_snapshot(entity: str, raw: dict[str, Any]) -> PartySnapshot:
    values = values_by_code(raw.get("custom_fields_values"))
    return PartySnapshot(
        entity=entity, id=int(raw["id"]), name=str(raw.get("name") or "").strip(),
        inn="".join(first(values, INN).split()), kpp="".join(first(values, KPP).split()).upper(),
        phones=tuple(str(v).strip() for v in values.get("PHONE", []) if str(v).strip()),
        emails=tuple(str(v).strip() for v in values.get("EMAIL", []) if str(v).strip()),
        address=first(values, "ADDRESS"), updated_at=timestamp(raw.get("updated_at")))


def party_kind(party: PartySnapshot) -> str:
    """legal (10-digit ИНН, a company), entrepreneur (12-digit ИНН), or individual."""
    if party.entity == "companies" and len(party.inn) != 12:
        return "legal"
    if len(party.inn) == 12:
        return "entrepreneur"
    return "individual"


def text_value(field_id: int, value: Any) -> dict[str, Any]:
    return {"field_id": field_id, "values": [{"value": value}]}


def format_quantity(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text
