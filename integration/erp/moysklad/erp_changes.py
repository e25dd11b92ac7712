"""Apply the ERP's order-flow changes by change cursor (sync kind `erp_changes`, every few minutes).

Not to be confused with `integration.reconciliation` (`manage.py reconcile`), which compares every side.

Webhooks carry the order flow at once, but MoySklad drops a delivery after three failed attempts. This sync
lists what changed since its cursor — customer orders, invoices, demands, payments and sales returns — and
applies each record through the functions the webhook handler uses (`order_sync.apply_*`), so a lost webhook
is recovered within one schedule interval. A record we already hold unchanged is counted `unchanged` and not
re-read; applying is idempotent anyway (ERP ids, the order's ERP `updated` stamp), so a repeated run changes
nothing. Each entity has its own cursor (the ERP's `updated` clock); a first run without a cursor looks back
FIRST_WINDOW, a `full` run reads everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from documents.errors import DocumentError
from documents.models import Document, Payment
from integration import syncs
from integration.erp.importers import orders as order_sync
from integration.erp.importers.catalog import note_error
from integration.erp.importers.cursors import get_cursor, set_cursor
from integration.erp.moysklad import mappers
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.erp.types import ErpShipmentLine
from integration.errors import IntegrationError
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run
from orders.errors import OrderError
from orders.models import Shipment
from orders.types import ShipmentInput, ShipmentLineInput

ENTITIES = ("customerorder", "invoiceout", "demand", "paymentin", "salesreturn")
CURSOR = "moysklad.erp_changes.{entity}"
OVERLAP = timedelta(minutes=2)
FIRST_WINDOW = timedelta(days=1)
APPLIED, UNCHANGED, SKIPPED = "updated", "unchanged", "skipped"


@dataclass
class ChangeApplier:
    backend: Backend
    adapter: MoySkladAdapter
    run: SyncRun
    dry_run: bool

    def rows(self, entity: str, since: datetime | None):
        params = {"filter": f"updated>={mappers.wire_moment(since)}"} if since else {}
        for page in self.adapter.client.iter_pages(f"entity/{entity}", params):
            yield from page

    # --- one record each: "updated" (applied), "unchanged" (we hold it as it is) or "skipped" (not ours)
    def customerorder(self, row: dict) -> str:
        order = order_sync.local_order(row["id"], row.get("externalCode") or "")
        if order is None:
            return SKIPPED  # created in the ERP alone: not ours to mirror
        updated = mappers.moment(row.get("updated"))
        if updated and order.erp_updated_at and updated <= order.erp_updated_at:
            return UNCHANGED
        if self.dry_run:
            return SKIPPED
        order_sync.apply_order(self.backend, self.adapter.get_order(row["id"]))
        return APPLIED

    def demand(self, row: dict) -> str:
        if Shipment.objects.filter(erp_id=row["id"]).exists():
            return UNCHANGED
        if order_sync.local_order(mappers.ref_id(row.get("customerOrder"))) is None or self.dry_run:
            return SKIPPED
        return APPLIED if order_sync.apply_shipment(self.adapter.get_shipment(row["id"])) else SKIPPED

    def paymentin(self, row: dict) -> str:
        payment = mappers.payment(row)
        held = Payment.objects.filter(erp_id=payment.erp_id).values("amount", "paid_at", "number").first()
        if held == {"amount": payment.amount, "paid_at": payment.paid_at, "number": payment.number[:64]}:
            return UNCHANGED
        if self.dry_run:
            return SKIPPED
        return APPLIED if order_sync.apply_payment(payment) else SKIPPED

    def invoiceout(self, row: dict) -> str:
        """An invoice we hold (it was issued for our request) edited in the ERP: take its number, totals and
        print form again. Invoices made in the ERP alone change their order, which is applied itself."""
        from documents.actions import attach_erp_document

        document = Document.objects.filter(erp_id=row["id"]).first()
        if document is None:
            return SKIPPED
        erp = mappers.document(row, "invoice")
        held = (document.number, document.issued_on, document.erp_total, document.erp_vat_total)
        if document.status == Document.Status.ISSUED and held == (
            erp.number,
            erp.issued_on,
            erp.total,
            erp.vat_total,
        ):
            return UNCHANGED
        if self.dry_run:
            return SKIPPED
        attach_erp_document(
            document,
            number=erp.number,
            issued_on=erp.issued_on,
            total=erp.total,
            vat_total=erp.vat_total,
            pdf=self.adapter.fetch_document_pdf("invoiceout", erp.erp_id),
            erp_id=erp.erp_id,
        )
        return APPLIED

    def salesreturn(self, row: dict) -> str:
        if Shipment.objects.filter(erp_id=row["id"]).exists():
            return UNCHANGED
        if self.dry_run:
            return SKIPPED
        return APPLIED if apply_return(self.adapter, row) else SKIPPED

    def apply_changes(self, entity: str, since: datetime | None) -> datetime | None:
        """Apply what changed since `since`; returns where the cursor may move (the oldest failure, if any)."""
        handle: Callable[[dict], str] = getattr(self, entity)
        newest = failed = None
        for row in self.rows(entity, since):
            updated = None
            try:
                updated = mappers.moment(row.get("updated"))
                newest = max(filter(None, (newest, updated)), default=None)
                outcome = handle(row)
            except (IntegrationError, OrderError, DocumentError, mappers.MappingError) as exc:
                # One bad record must not hold back the others; it is listed again next time.
                note_error(self.run, f"{entity} {row.get('id')}: {exc}")
                failed = min(filter(None, (failed, updated)), default=None)
                continue
            setattr(self.run, outcome, getattr(self.run, outcome) + 1)
        return min(newest, failed) if newest and failed else newest


def apply_return(adapter: MoySkladAdapter, row: dict) -> bool:
    """A sales return (goods back from the client) registered on our order with its return document, once per
    ERP id; False when the return is not against one of our orders. `row` is the salesreturn as listed."""
    from integration.erp.importers.returns import apply_return as register_return

    demand_id = mappers.ref_id(row.get("demand"))
    shipment = (
        Shipment.objects.filter(erp_id=demand_id).select_related("order").first() if demand_id else None
    )
    order = shipment.order if shipment else None
    if order is None and demand_id:
        order = order_sync.local_order(adapter.get_shipment(demand_id).order_erp_id)
    if order is None:
        return False
    positions = [
        p for page in adapter.client.iter_pages(f"entity/salesreturn/{row['id']}/positions") for p in page
    ]
    lines = [
        ErpShipmentLine(mappers.ref_id(p.get("assortment")) or "", mappers.quantity(p.get("quantity")))
        for p in positions
    ]
    products = order_sync.product_pks(line.product_erp_id for line in lines)
    register_return(
        order,
        ShipmentInput(
            shipped_at=mappers.moment(row.get("moment")) or timezone.now(),
            lines=[
                ShipmentLineInput(product_id=products[line.product_erp_id], quantity_base=line.quantity)
                for line in lines
                if line.product_erp_id in products and line.quantity > 0
            ],
            erp_id=row["id"],
            number=row.get("name") or "",
        ),
    )
    return True


@syncs.register("erp_changes", backend_kinds=(Backend.Kind.MOYSKLAD,))
def sync_erp_changes(
    backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None
) -> SyncRun:
    adapter = MoySkladAdapter(backend)
    with sync_run(backend, "erp_changes", full=full, dry_run=dry_run) as run:
        applier = ChangeApplier(backend, adapter, run, dry_run)
        for done, entity in enumerate(ENTITIES, start=1):
            name = CURSOR.format(entity=entity)
            cursor = None if full else get_cursor(backend, name)
            since = None if full else (cursor - OVERLAP if cursor else timezone.now() - FIRST_WINDOW)
            newest = applier.apply_changes(entity, since)
            if newest and not dry_run and (cursor is None or newest > cursor):
                set_cursor(backend, name, newest)
            if progress:
                progress(done, len(ENTITIES))
        run.save(update_fields=["updated", "unchanged", "skipped", "failed", "details"])
    return run
