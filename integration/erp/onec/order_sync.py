"""1C → platform by polling (standard OData has no webhooks): our orders as 1C holds them (1C wins), shipments
(`РеализацияТоваровУслуг`) and payments (`ПоступлениеБезналичныхДенежныхСредств`, `ПриходныйКассовыйОрдер`).

Documents are read from a moving `Date` window (the cursor minus an overlap); orders in full, as 1C keeps no
change date on them. Applying the same record twice changes nothing (shipments and payments are keyed by their
1C ref).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from documents.errors import DocumentError
from integration import syncs
from integration.erp.moysklad.catalog_sync import note_error
from integration.erp.moysklad.order_sync import apply_payment, apply_shipment, local_order, snapshot
from integration.erp.onec.adapter import OneCAdapter
from integration.errors import IntegrationError, RetryableError
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run
from orders.errors import OrderError

CURSOR = "onec.documents"
OVERLAP = timedelta(days=1)  # 1C users post documents dated back a little: read a day behind the cursor


def apply_order(order) -> bool:
    from orders.actions import apply_erp_order

    local = local_order(order.erp_id, order.external_code)
    if local is None:
        return False
    apply_erp_order(local, snapshot(order))
    return True


@syncs.register("orders", backend_kinds=(Backend.Kind.ONEC_ODATA,))
def sync_orders(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    adapter = OneCAdapter(backend)
    stored = None if full else (backend.cursors or {}).get(CURSOR)
    since = (datetime.fromisoformat(stored) - OVERLAP) if stored else None
    started = timezone.now()
    with sync_run(backend, "orders", full=since is None, dry_run=dry_run) as run:
        failed_transiently = False

        def apply(record, fn, label: str) -> None:
            nonlocal failed_transiently
            if dry_run:
                run.skipped += 1
                return
            try:
                applied = fn(record)
            except RetryableError as exc:
                failed_transiently = True
                note_error(run, f"{label} {record.erp_id}: {exc}")
                return
            except (IntegrationError, OrderError, DocumentError) as exc:
                note_error(run, f"{label} {record.erp_id}: {exc}")
                return
            if applied:
                run.updated += 1
            else:
                run.skipped += 1

        for page in adapter.iter_orders():
            for order in page:
                apply(order, apply_order, "Document_ЗаказКлиента")
        for shipment in adapter.iter_shipments(since=since):
            apply(shipment, apply_shipment, "Document_РеализацияТоваровУслуг")
        for payment in adapter.iter_payments(since=since):
            apply(payment, apply_payment, "payment")
        run.save(update_fields=["updated", "skipped", "failed", "details"])
        if not dry_run and not failed_transiently:
            cursors = {**(backend.cursors or {}), CURSOR: started.isoformat()}
            Backend.objects.filter(pk=backend.pk).update(cursors=cursors)
            backend.cursors = cursors
    return run
