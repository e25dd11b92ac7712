"""The brief's five KPIs, computed from data over a period of whole days (Europe/Moscow, both ends included).

1. Errors in documents (totals mismatch or failed) and in orders (a dead-lettered outbox event or an
   open conflict raised in the period).
2. Share of automatic reserves among the reservations made in the period.
3. Time from the first quote (an issued `quote` document; without one, the first cart, Order.first_cart_at)
   to the order's first issued invoice, for invoices first issued in the period: median and average.
4. Sales "в минус": shortage approvals granted in the period.
5. Duplicate counterparties and products: the current state (not per period).
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from orders.models import Approval, Order, Reservation

from .models import Document
from .types import KpiPoint, Kpis

STEPS = ("day", "week", "month")
MAX_POINTS = 400
SHARE = Decimal("0.0001")


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(date_from, time.min), tz)
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz)
    return start, end


def _check_period(date_from: date, date_to: date) -> None:
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValueError(f"{name}: expected a date, got {type(value).__name__}")
    if date_from > date_to:
        raise ValueError("date_to: must not be earlier than date_from")


def _integration_model(name: str):
    """Integration core models by name; None while they are not installed."""
    try:
        return apps.get_model("integration", name)
    except LookupError:
        return None


def document_errors(start: datetime, end: datetime) -> tuple[int, int]:
    documents = Document.objects.filter(requested_at__gte=start, requested_at__lt=end)
    errors = documents.filter(Q(totals_mismatch=True) | Q(status=Document.Status.FAILED))
    return documents.count(), errors.count()


def orders_with_errors(start: datetime, end: datetime) -> int:
    order_ids: set[int] = set()
    outbox_event = _integration_model("OutboxEvent")
    if outbox_event is not None:
        meta = Order._meta
        dead = outbox_event.objects.filter(
            status="dead", aggregate_type=f"{meta.app_label}.{meta.model_name}", created_at__gte=start,
            created_at__lt=end,
        ).values_list("aggregate_id", flat=True)
        order_ids.update(int(value) for value in dead if value.isdigit())
    conflict = _integration_model("Conflict")
    if conflict is not None:
        order_ids.update(
            conflict.objects.filter(
                status="open", content_type=ContentType.objects.get_for_model(Order), created_at__gte=start,
                created_at__lt=end,
            ).values_list("object_id", flat=True)
        )
    return len(order_ids)


def reserve_counts(start: datetime, end: datetime) -> tuple[int, int, Decimal | None]:
    reservations = Reservation.objects.filter(created_at__gte=start, created_at__lt=end)
    total = reservations.count()
    automatic = reservations.filter(automatic=True).count()
    share = (Decimal(automatic) / Decimal(total)).quantize(SHARE) if total else None
    return total, automatic, share


def quote_to_invoice_seconds(start: datetime, end: datetime) -> list[float]:
    """For each order whose first issued invoice falls in the period: seconds since its first quote (КП) issued
    before that invoice, or since its first cart when it had none."""
    first_invoices = (
        Document.objects.filter(kind=Document.Kind.INVOICE, status=Document.Status.ISSUED, issued_at__isnull=False)
        .values("order_id")
        .annotate(first_issued=Min("issued_at"))
        .filter(first_issued__gte=start, first_issued__lt=end)
    )
    issued = {row["order_id"]: row["first_issued"] for row in first_invoices}
    quotes = dict(
        Document.objects.filter(kind=Document.Kind.QUOTE, status=Document.Status.ISSUED, order_id__in=issued.keys(),
                                issued_at__isnull=False)
        .values("order_id").annotate(first_quote=Min("issued_at")).values_list("order_id", "first_quote")
    )
    carts = dict(Order.objects.filter(pk__in=issued.keys(), first_cart_at__isnull=False)
                 .values_list("pk", "first_cart_at"))
    starts = {}
    for pk, invoiced in issued.items():
        quoted = quotes.get(pk)
        begin = quoted if quoted is not None and quoted <= invoiced else carts.get(pk)
        if begin is not None and invoiced >= begin:
            starts[pk] = (invoiced - begin).total_seconds()
    return sorted(starts.values())


def sales_in_minus(start: datetime, end: datetime) -> int:
    return (
        Approval.objects.filter(status=Approval.Status.APPROVED)
        .annotate(decided=Coalesce("decided_at", "created_at"))
        .filter(decided__gte=start, decided__lt=end)
        .count()
    )


def duplicates() -> tuple[int | None, int | None, int | None, int | None]:
    """(counterparty groups, counterparties in them, product groups, products in them)."""
    try:
        from counterparties.matching import find_duplicate_groups
    except ImportError:
        cp_groups = cp_rows = None
    else:
        groups = [g for g in find_duplicate_groups() if g.kind == "duplicate"]  # not branches (same ИНН, other КПП)
        cp_groups, cp_rows = len(groups), len({pk for g in groups for pk in g.counterparty_ids})
    try:
        from catalog.duplicates import find_duplicate_products
    except ImportError:
        product_groups = product_rows = None
    else:
        groups = find_duplicate_products()
        product_groups, product_rows = len(groups), len({pk for g in groups for pk in g.product_ids})
    return cp_groups, cp_rows, product_groups, product_rows


def compute_kpis(date_from: date, date_to: date) -> Kpis:
    _check_period(date_from, date_to)
    start, end = _bounds(date_from, date_to)
    documents_total, documents_errors = document_errors(start, end)
    reservations_total, reservations_automatic, share = reserve_counts(start, end)
    seconds = quote_to_invoice_seconds(start, end)
    cp_groups, cp_rows, product_groups, product_rows = duplicates()
    return Kpis(
        date_from=date_from,
        date_to=date_to,
        documents_total=documents_total,
        documents_with_errors=documents_errors,
        orders_total=Order.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        orders_with_errors=orders_with_errors(start, end),
        reservations_total=reservations_total,
        reservations_automatic=reservations_automatic,
        automatic_reserve_share=share,
        quote_to_invoice_count=len(seconds),
        quote_to_invoice_median_seconds=statistics.median(seconds) if seconds else None,
        quote_to_invoice_average_seconds=statistics.fmean(seconds) if seconds else None,
        sales_in_minus=sales_in_minus(start, end),
        duplicate_counterparty_groups=cp_groups,
        duplicate_counterparties=cp_rows,
        duplicate_product_groups=product_groups,
        duplicate_products=product_rows,
    )


def _steps(date_from: date, date_to: date, step: str) -> list[tuple[date, date]]:
    buckets = []
    current = date_from
    while current <= date_to:
        if step == "day":
            last = current
        elif step == "week":
            last = current + timedelta(days=6)
        else:
            next_month = (current.replace(day=1) + timedelta(days=32)).replace(day=1)
            last = next_month - timedelta(days=1)
        last = min(last, date_to)
        buckets.append((current, last))
        current = last + timedelta(days=1)
        if len(buckets) > MAX_POINTS:
            raise ValueError(f"step: more than {MAX_POINTS} points; choose a longer step or a shorter period")
    return buckets


def kpi_series(date_from: date, date_to: date, step: str = "day") -> list[KpiPoint]:
    """The period KPIs per day, week (7 days from date_from) or calendar month, for the dashboard chart."""
    _check_period(date_from, date_to)
    if step not in STEPS:
        raise ValueError(f"step: expected one of {', '.join(STEPS)}, got {step!r}")
    points = []
    for first, last in _steps(date_from, date_to, step):
        start, end = _bounds(first, last)
        seconds = quote_to_invoice_seconds(start, end)
        points.append(
            KpiPoint(
                date_from=first,
                date_to=last,
                documents_with_errors=document_errors(start, end)[1],
                orders_with_errors=orders_with_errors(start, end),
                automatic_reserve_share=reserve_counts(start, end)[2],
                quote_to_invoice_median_seconds=statistics.median(seconds) if seconds else None,
                sales_in_minus=sales_in_minus(start, end),
            )
        )
    return points
