"""The audit after the last day: what the simulation did (the ledger) against what each side holds — the ERP
and amoCRM read through their sandboxes' HTTP APIs, the platform from its database — then the reconciliation.

lost     an expected effect is missing (an accepted cart without its ERP order, a payment, shipment, return,
         invoice or new product the platform never got)
doubled  an effect applied twice (a second ERP order for one of ours, payments above the ERP's, a duplicate
         counterparty or product created by the integration)
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum

from integration.pilot.ledger import Ledger

SETTLE_QUIET_SECONDS = 3.0
CENT = Decimal("0.01")


@dataclass
class Finding:
    kind: str  # lost | doubled | minus | document | drift
    area: str
    key: str
    detail: str

    def line(self) -> str:
        return f"{self.kind:8} {self.area:13} {self.key}: {self.detail}"


@dataclass
class Audit:
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    kpis: dict = field(default_factory=dict)
    slowest: list[dict] = field(default_factory=list)
    reconciliation: dict = field(default_factory=dict)
    settled: bool = True
    baseline: Counter = field(default_factory=Counter)  # duplicate groups before the first day

    def add(self, kind: str, area: str, key, detail: str) -> None:
        self.findings.append(Finding(kind, area, str(key), detail))

    def number(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)


def pending_work() -> dict[str, int]:
    from integration.models import InboxMessage, OutboxEvent

    outbox = OutboxEvent.objects.filter(status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT])
    inbox = InboxMessage.objects.filter(status__in=[InboxMessage.Status.RECEIVED, InboxMessage.Status.PROCESSING,
                                                    InboxMessage.Status.FAILED])
    return {"outbox": outbox.count(), "inbox": inbox.count()}


def describe_pending(limit: int = 10) -> list[str]:
    """What still waits in the queues after settling timed out (for the report)."""
    from integration.models import InboxMessage, OutboxEvent

    lines = [f"outbox {e.pk} {e.topic} {e.status} attempts {e.attempts}: {e.last_error[:200]}"
             for e in OutboxEvent.objects.filter(status__in=[OutboxEvent.Status.PENDING,
                                                             OutboxEvent.Status.IN_FLIGHT]).order_by("pk")[:limit]]
    lines += [f"inbox {m.pk} {m.status}: {m.error[:200]}"
              for m in InboxMessage.objects.filter(status__in=[InboxMessage.Status.RECEIVED,
                                                             InboxMessage.Status.PROCESSING,
                                                             InboxMessage.Status.FAILED]).order_by("pk")[:limit]]
    return lines


def pass_the_night() -> None:
    """The days are over: retries the queues scheduled for later (backoff after an outage) are due now, as they
    would be after the night; the clock of the platform itself is not touched."""
    from django.utils import timezone

    from integration.models import InboxMessage, OutboxEvent

    now = timezone.now()
    OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, next_attempt_at__gt=now).update(next_attempt_at=now)
    InboxMessage.objects.filter(status=InboxMessage.Status.FAILED, next_attempt_at__gt=now).update(next_attempt_at=now)


def settle(world, timeout: float = 120, *, cap: float = 1800) -> bool:
    """Wait until both sandboxes have delivered their webhooks and the platform's queues are empty and stay so.

    The night is long: while the queues keep shrinking (a backlog paced by amoCRM's 7 requests a second drains
    slowly) the wait goes on, up to `cap`; `timeout` seconds without progress is the end of it."""
    started = time.monotonic()
    deadline = started + timeout
    quiet_since, fewest = None, None
    while time.monotonic() < deadline:
        world.platform.check_alive()
        pass_the_night()
        world.ms.control("moysklad/webhooks/drain", {"timeout": 10})
        world.amo.control("amocrm/webhooks/flush", {"ignore_schedule": True})
        waiting = sum(pending_work().values())
        if fewest is None or waiting < fewest:
            fewest = waiting
            deadline = min(max(deadline, time.monotonic() + timeout), started + cap)
        if waiting:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_QUIET_SECONDS:
            return True
        time.sleep(0.5)
    return False


def run_schedules(world) -> None:
    """The schedules' next ticks, played now rather than waited for: the ERP order-flow catch-up (lost
    webhooks), the catalog changes, the counterparties sync, the stock refresh and the amoCRM catalog push."""
    from integration import tasks

    for name in ("sync_erp_changes", "sync_catalog", "sync_counterparties", "refresh_stock", "push_crm_catalog"):
        getattr(tasks, name)()


def audit(world, ledger: Ledger, *, started: date, baseline: Counter) -> Audit:
    result = Audit(baseline=baseline)
    check_orders(world, ledger, result)
    check_payments(world, ledger, result)
    check_shipments(world, ledger, result)
    check_documents(world, ledger, result)
    check_master_data(world, ledger, result)
    check_minus(world, result)
    check_reconciliation(result)
    result.kpis = kpis(started)
    result.slowest = slowest_exchanges()
    return result


# ---------------------------------------------------------------------------------------------- orders
def check_orders(world, ledger: Ledger, result: Audit) -> None:
    from orders.models import Order

    erp_orders = world.ms.control("moysklad/entities/customerorder", None, method="GET")
    by_code: dict[str, list[dict]] = defaultdict(list)
    for row in erp_orders:
        by_code[row.get("externalCode") or ""].append(row)
    orders = {o.lead_id: o for o in Order.objects.filter(lead_id__in=list(ledger.deals)).prefetch_related("lines")}
    result.counts.update(orders=0, lines=0)
    for lead_id, deal in ledger.deals.items():
        order = orders.get(lead_id)
        if not deal.cart:
            continue
        if order is None:
            result.add("lost", "order", f"lead {lead_id}", "the cart was accepted but the platform has no order")
            continue
        result.counts["orders"] += 1
        result.counts["lines"] += order.lines.count()
        rows = by_code.get(str(order.uuid), [])
        if len(rows) > 1:
            result.add("doubled", "order", f"order {order.pk}", f"{len(rows)} ERP orders: {[r['id'] for r in rows]}")
        if deal.cancelled:
            continue
        if not rows and order.erp_pending_reason:  # held on purpose (e.g. a client without valid requisites)
            result.counts["orders_held"] = result.counts.get("orders_held", 0) + 1
            result.add("held", "order", f"order {order.pk}", f"not sent to the ERP: {order.erp_pending_reason}")
            continue
        if not rows:
            result.add("lost", "order", f"order {order.pk}", f"no ERP order (status {order.status})")
            continue
        if order.erp_id and order.erp_id not in {r["id"] for r in rows}:
            result.add("doubled", "order", f"order {order.pk}", f"bound to {order.erp_id}, ERP has {rows[0]['id']}")
    extra = [code for code, rows in by_code.items() if code and not Order.objects.filter(uuid=code).exists()]
    for code in extra:
        result.add("doubled", "order", code, "an ERP order with our externalCode that no platform order has")


# ---------------------------------------------------------------------------------------------- money and goods
def check_payments(world, ledger: Ledger, result: Audit) -> None:
    from documents.models import Payment

    erp = {row["id"]: row for row in world.ms.control("moysklad/entities/paymentin", None, method="GET")}
    ours = {p.erp_id: p for p in Payment.objects.filter(erp_id__in=list(erp))}
    result.counts["payments"] = len(ledger.payments)
    for order_id, payment_id, kopecks in ledger.payments:
        payment = ours.get(payment_id)
        if payment is None:
            result.add("lost", "payment", payment_id, f"{kopecks / 100:.2f} ₽ for ERP order {order_id} never arrived")
        elif (payment.amount - Decimal(str(kopecks)) / 100).copy_abs() > CENT:
            result.add("doubled", "payment", payment_id, f"platform {payment.amount} ≠ ERP {kopecks / 100:.2f}")
    by_order = defaultdict(Decimal)
    for order_id, _, kopecks in ledger.payments:
        by_order[order_id] += Decimal(str(kopecks)) / 100
    from orders.models import Order

    for order in Order.objects.filter(erp_id__in=list(by_order)):
        paid = Payment.objects.filter(order=order).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        if paid - by_order[order.erp_id] > CENT:
            result.add("doubled", "payment", f"order {order.pk}", f"platform paid {paid} > ERP {by_order[order.erp_id]}")


def check_shipments(world, ledger: Ledger, result: Audit) -> None:
    from orders.models import Shipment

    known = set(Shipment.objects.values_list("erp_id", flat=True))
    result.counts["shipments"] = len(ledger.demands)
    result.counts["returns"] = len(ledger.returns)
    for order_id, demand_id in ledger.demands:
        if demand_id not in known:
            result.add("lost", "shipment", demand_id, f"the ERP shipped order {order_id}; the platform has no shipment")
    for demand_id, return_id in ledger.returns:
        if return_id not in known:
            result.add("lost", "return", return_id, f"goods of {demand_id} came back; the platform has no return")


def check_documents(world, ledger: Ledger, result: Audit) -> None:
    from documents.models import Document

    erp = {row["id"]: row for row in world.ms.control("moysklad/entities/invoiceout", None, method="GET")}
    documents = Document.objects.filter(order__lead_id__in=list(ledger.deals)).select_related("order")
    result.counts["documents"] = documents.count()
    result.counts["documents_issued"] = documents.filter(status=Document.Status.ISSUED).count()
    asked = [lead for lead, deal in ledger.deals.items() if deal.documents and not deal.cancelled]
    held = {lead for lead, in documents.filter(order__erp_id__isnull=True).exclude(order__erp_pending_reason="")
            .values_list("order__lead_id")}
    for lead_id in asked:
        if lead_id in held:  # its order is held (reported there); the invoice waits for it
            continue
        got = documents.filter(order__lead_id=lead_id, kind=Document.Kind.INVOICE)
        if not got.filter(status=Document.Status.ISSUED).exists():
            states = list(got.values_list("status", "error"))
            result.add("lost", "document", f"lead {lead_id}", f"an invoice was asked for; none issued {states}")
    for document in documents.filter(status=Document.Status.ISSUED, kind=Document.Kind.INVOICE):
        row = erp.get(document.erp_id or "")
        if document.totals_mismatch:
            edited = "edited in the ERP" if document.order.erp_id in ledger.order_edits else "not edited in the ERP"
            result.add("document", "document", document.pk,
                       f"totals mismatch: ours {document.total} (VAT {document.vat_total}), ERP {document.erp_total} "
                       f"(VAT {document.erp_vat_total}); order {document.order_id} now {document.order.total}, "
                       f"{edited}")
        elif row is not None and (document.total - Decimal(str(row["sum"])) / 100).copy_abs() > CENT:
            result.add("document", "document", document.pk, f"ours {document.total} ≠ ERP {row['sum'] / 100:.2f}")
    invoices = Counter(row.get("customerOrder", {}).get("meta", {}).get("href", "").rsplit("/", 1)[-1]
                       for row in erp.values())
    for order_id, n in invoices.items():
        if order_id and n > sum(1 for d in documents if d.order.erp_id == order_id and d.kind == Document.Kind.INVOICE):
            result.add("doubled", "document", order_id, f"{n} ERP invoices for fewer requests")


def check_master_data(world, ledger: Ledger, result: Audit) -> None:
    from catalog.models import Product
    from integration.bindings import lookup

    for erp_id in ledger.products_added:
        if lookup(world.erp, Product, erp_id) is None and not Product.objects.filter(erp_id=erp_id).exists():
            result.add("lost", "product", erp_id, "a product added in the ERP never reached the platform")
    for erp_id, name in ledger.products_renamed.items():
        product = Product.objects.filter(erp_id=erp_id).first()
        if product is not None and product.name != name:
            result.add("lost", "product", erp_id, f"renamed in the ERP to {name!r}; the platform says {product.name!r}")
    now = duplicate_groups(world)
    for (area, side, key), n in now.items():
        if n > max(1, result.baseline.get((area, side, key), 1)):
            result.add("doubled", area, key, f"{n} {side} records with these requisites/article")


def duplicate_groups(world) -> Counter:
    """Groups of records sharing requisites (counterparties) or an article (products), per side."""
    from counterparties.models import Counterparty

    groups: Counter = Counter()
    for c in world.ms.control("moysklad/entities/counterparty", None, method="GET"):
        if c.get("inn"):
            groups["counterparty", "ERP", f"{c['inn']}/{c.get('kpp', '')}"] += 1
    for inn, kpp in Counterparty.objects.filter(merged_into__isnull=True).exclude(inn="").values_list("inn", "kpp"):
        groups["counterparty", "platform", f"{inn}/{kpp}"] += 1
    for p in world.ms.control("moysklad/entities/product", None, method="GET"):
        groups["product", "ERP", p.get("article") or p["name"]] += 1
    return groups


def check_minus(world, result: Audit) -> None:
    """A sale "в минус" without an approval: a reservation beyond the stock of an order nobody approved."""
    from orders.models import Approval, Order

    approved = set(Approval.objects.filter(status=Approval.Status.APPROVED).values_list("order_id", flat=True))
    unapproved = Order.objects.filter(status__in=[Order.Status.RESERVED, Order.Status.PARTIALLY_SHIPPED]).filter(
        ~Q(pk__in=approved), reservations__automatic=False).distinct()
    for order in unapproved:
        result.add("minus", "order", order.pk, "a manual (short) reservation without a granted approval")
    result.counts["sales_minus_approved"] = len(approved)


def check_reconciliation(result: Audit) -> None:
    from integration.reconciliation import reconcile

    report = reconcile(repair=False)
    result.reconciliation = {"checked": report.checked, "drifts": len(report.drifts)}
    for drift in report.drifts:
        result.add("drift", drift.area, drift.key,
                   f"ERP {drift.erp!r} platform {drift.platform!r} amoCRM {drift.crm!r} — {drift.cause}")


# ---------------------------------------------------------------------------------------------- KPIs, journal
def kpis(started: date) -> dict:
    from dataclasses import asdict

    from django.utils import timezone

    from documents.kpis import compute_kpis

    return asdict(compute_kpis(started, timezone.localdate()))


def slowest_exchanges(n: int = 5) -> list[dict]:
    from integration.models import JournalEntry

    rows = JournalEntry.objects.order_by("-duration_ms").values("direction", "method", "url", "status_code",
                                                                "duration_ms")[:n]
    return [{**row, "url": row["url"][:120]} for row in rows]
