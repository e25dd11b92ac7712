"""Dataclasses that cross the orders layer boundary (API layer and connectors ↔ orders actions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class CartLine:
    """One line of the cart as the manager sets it: `quantity` is in `pack`s, or base units without a pack."""

    product_id: int
    quantity: Decimal
    pack_id: int | None = None
    warehouse_id: int | None = None
    batch_id: int | None = None
    price: Decimal | None = None  # per pack (or base unit); None = the counterparty's price list
    discount_percent: Decimal = Decimal("0")


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user (admin), an amoCRM user (widget, crm) or the ERP."""

    user: object | None = None
    crm_user_id: int | None = None
    can_approve: bool = False
    source: str = "admin"  # "widget" | "admin" | "crm" | "erp"

    @property
    def label(self) -> str:
        if self.user is not None:
            return f"{self.source}:{self.user}"
        if self.crm_user_id is not None:
            return f"{self.source}:amocrm-user-{self.crm_user_id}"
        return self.source


@dataclass(frozen=True)
class LineReserve:
    index: int
    product_id: int
    warehouse_id: int | None
    batch_id: int | None
    requested: Decimal  # base units
    reserved: Decimal  # base units
    short: Decimal  # base units


@dataclass(frozen=True)
class ReserveResult:
    order_id: int
    status: str  # Order.Status value
    version: int
    lines: list[LineReserve] = field(default_factory=list)
    erp_number: str = ""
    erp_event: object | None = field(default=None, compare=False, repr=False)  # the outbox upsert, if any

    @property
    def fully_reserved(self) -> bool:
        return all(line.short == 0 for line in self.lines)


@dataclass(frozen=True)
class ErpOrderLine:
    product_id: int
    quantity_base: Decimal
    price: Decimal  # per base unit
    reserved: Decimal = Decimal("0")  # base units the ERP reserves for this line (what shipped included)
    discount_percent: Decimal = Decimal("0")


@dataclass(frozen=True)
class ErpOrderSnapshot:
    erp_id: str
    number: str
    state: str
    lines: list[ErpOrderLine]
    updated_at: datetime | None = None  # the ERP's own timestamp; older snapshots are skipped


@dataclass(frozen=True)
class ShipmentLineInput:
    product_id: int
    quantity_base: Decimal


@dataclass(frozen=True)
class ShipmentInput:
    shipped_at: datetime
    lines: list[ShipmentLineInput]
    erp_id: str | None = None  # idempotency: a shipment with a known ERP id is applied once
    number: str = ""
