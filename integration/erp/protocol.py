"""The ERP adapter protocol: what the syncs and handlers need from any ERP (MoySklad, 1C OData, CommerceML).

Adapters raise integration.errors.RetryableError for transient failures (network, 429, 5xx) and
PermanentError for refusals (4xx, bad data); listing methods stream page by page. A page may be a
types.RecordPage naming the rows the adapter could not map (the importers count them as failures).
The ERP-agnostic importers (integration/erp/importers/) need nothing else from an ERP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from integration.erp.types import (
    ErpBatch,
    ErpCategory,
    ErpCounterparty,
    ErpDocument,
    ErpOrder,
    ErpOrganization,
    ErpPayment,
    ErpPriceList,
    ErpProduct,
    ErpShipment,
    ErpStockChange,
    ErpStockRow,
    ErpUnit,
    ErpWarehouse,
    OrderPush,
)


@runtime_checkable
class ErpAdapter(Protocol):
    # --- master data (pages: lists of records; `since` = changed at or after, None = everything)
    def iter_units(self) -> Iterator[ErpUnit]: ...

    def iter_categories(self) -> Iterator[ErpCategory]: ...

    def iter_product_pages(self, *, since: datetime | None = None,
                           on_size: Callable[[int], None] | None = None) -> Iterator[list[ErpProduct]]:
        """Goods and services, archived ones included (archived=True); `on_size(n)` for each listing whose
        size the ERP tells (progress), when it does."""
        ...

    def iter_bundles(self, *, since: datetime | None = None,
                     on_size: Callable[[int], None] | None = None) -> Iterator[list[ErpProduct]]:
        """Kits (kind "kit") with their components."""
        ...

    def fetch_product(self, kind: str, erp_id: str) -> ErpProduct:
        """One product, service or kit (`kind`: catalog.Product.Kind) read again, e.g. one an order names."""
        ...

    def iter_price_lists(self) -> Iterator[ErpPriceList]: ...

    def iter_warehouses(self) -> Iterator[ErpWarehouse]: ...

    def iter_batches(self) -> Iterator[ErpBatch]: ...

    # --- stock (base units)
    def iter_stock(self) -> Iterator[list[ErpStockRow]]:
        """A full snapshot, zero rows included, batch rows where the ERP tracks batches."""
        ...

    def stock_changed_since(self, since: datetime) -> list[ErpStockChange]: ...

    def stock_for(self, assortment_erp_ids: Sequence[str]) -> list[ErpStockChange]: ...

    # --- counterparties
    def iter_counterparties(self, *, since: datetime | None = None) -> Iterator[list[ErpCounterparty]]:
        """Counterparties (archived ones included, archived=True) with their contact persons."""
        ...

    def ensure_counterparty(self, data: ErpCounterparty) -> ErpCounterparty:
        """The matching counterparty (ИНН+КПП, or phone/e-mail), created once when there is none."""
        ...

    def find_counterparty(self, data: ErpCounterparty) -> ErpCounterparty | None: ...

    def create_counterparty(self, data: ErpCounterparty) -> ErpCounterparty: ...

    # --- our organization
    def fetch_organization(self) -> ErpOrganization:
        """The organization the ERP's orders are made for; PermanentError when the ERP has none."""
        ...

    # --- orders
    def find_order_id(self, key: str) -> str | None:
        """The ERP id of the order pushed with our key (an earlier attempt's answer may have been lost)."""
        ...

    def upsert_order(self, push: OrderPush) -> ErpOrder:
        """Create (idempotently: a retry after a lost response finds the first one) or update."""
        ...

    def cancel_order(self, erp_id: str) -> ErpOrder: ...

    def get_order(self, erp_id: str) -> ErpOrder: ...

    def iter_orders(self, *, since: datetime | None = None) -> Iterator[list[ErpOrder]]: ...

    # --- documents, shipments, payments
    def create_invoice(self, order_erp_id: str, key: str = "") -> ErpDocument:
        """`key`: our UUID for the document, so that a create repeated after a lost answer makes no second."""

    def fetch_document_pdf(self, kind: str, erp_id: str) -> bytes: ...

    def iter_shipments(self, *, since: datetime | None = None) -> Iterable[ErpShipment]: ...

    def iter_payments(self, *, since: datetime | None = None) -> Iterable[ErpPayment]: ...
