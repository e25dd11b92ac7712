"""Dataclasses crossing the documents boundary (connectors ↔ documents actions, KPIs ↔ API/admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class PaymentInput:
    """An incoming payment (MoySklad paymentin). The order is found by `order_id`, the ERP order id or the
    invoice; a payment nobody can place is kept unlinked until a later update names its order."""

    amount: Decimal
    paid_at: datetime
    erp_id: str | None = None  # idempotency: the same ERP id updates the same payment
    number: str = ""
    purpose: str = ""
    order_id: int | None = None
    order_erp_id: str | None = None
    invoice_id: int | None = None
    invoice_erp_id: str | None = None


@dataclass(frozen=True)
class Kpis:
    """The brief's KPIs over [date_from, date_to] (inclusive, Europe/Moscow days)."""

    date_from: date
    date_to: date
    # 1. errors in documents and orders
    documents_total: int
    documents_with_errors: int  # totals mismatch or failed
    orders_total: int
    orders_with_errors: int  # dead-lettered outbox events or open conflicts
    # 2. automatic reserves
    reservations_total: int
    reservations_automatic: int
    automatic_reserve_share: Decimal | None  # 0..1, None without reservations
    # 3. time from the first cart (quote) to the first issued invoice
    quote_to_invoice_count: int
    quote_to_invoice_median_seconds: float | None
    quote_to_invoice_average_seconds: float | None
    # 4. sales "в минус": approved shortage approvals
    sales_in_minus: int
    # 5. duplicates (current state, not per period); None when the detector is unavailable
    duplicate_counterparty_groups: int | None
    duplicate_counterparties: int | None
    duplicate_product_groups: int | None
    duplicate_products: int | None


@dataclass(frozen=True)
class KpiPoint:
    """One step of the KPI chart (duplicates are a current state and are not charted)."""

    date_from: date
    date_to: date
    documents_with_errors: int
    orders_with_errors: int
    automatic_reserve_share: Decimal | None
    quote_to_invoice_median_seconds: float | None
    sales_in_minus: int


@dataclass(frozen=True)
class OrganizationInput:
    """Our organization as the ERP reports it (the own legal entity and its main bank account)."""

    erp_id: str
    name: str
    inn: str
    kind: str = "legal"  # legal | entrepreneur
    kpp: str = ""
    ogrn: str = ""
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bik: str = ""
    correspondent_account: str = ""
    account: str = ""
    director: str = ""
    accountant: str = ""
