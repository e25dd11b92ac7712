"""One timeline of everything about an order: CRM and ERP traffic (outbox events and journal exchanges
correlated to the order), conflicts, documents, payments, shipments, approvals, reserves and the order's
own history — newest first, built with one query per source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from documents.models import Document, Payment
from integration.models import Backend, Conflict, JournalEntry, OutboxEvent
from orders.models import Approval, Order, OrderLine, Reservation, Shipment

from .links import change_url

PER_SOURCE = 200  # newest rows taken from each source
CRM_KINDS = {Backend.Kind.AMOCRM}
HISTORY_SKIP = {"updated_at", "version", "history_id", "history_date", "history_type", "history_user",
                "history_change_reason", "history_user_id"}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    source: str  # "crm" | "erp" | "platform" | "staff"
    kind: str  # outbox, exchange, conflict, document, payment, shipment, approval, reservation, history
    title: str
    detail: str = ""
    level: str = "info"  # info | warning | error
    url: str = ""


def _side(backend: Backend | None) -> str:
    if backend is None:
        return "platform"
    return "crm" if backend.kind in CRM_KINDS else "erp"


def _outbox(order: Order) -> list[TimelineEntry]:
    meta = order._meta
    events = (
        OutboxEvent.objects.filter(aggregate_type=f"{meta.app_label}.{meta.model_name}", aggregate_id=str(order.pk))
        .select_related("backend")
        .order_by("-id")[:PER_SOURCE]
    )
    entries = []
    for event in events:
        level = {OutboxEvent.Status.DEAD: "error", OutboxEvent.Status.DISCARDED: "warning"}.get(event.status, "info")
        if event.status == OutboxEvent.Status.PENDING and event.attempts:
            level = "warning"
        detail = ngettext("%(attempts)d attempt", "%(attempts)d attempts", event.attempts) % {"attempts": event.attempts}
        if event.last_error:
            detail += f" — {event.last_error[:300]}"
        entries.append(
            TimelineEntry(
                at=event.delivered_at or event.created_at,
                source=_side(event.backend),
                kind="outbox",
                title=_("%(topic)s to %(backend)s: %(status)s")
                % {"topic": event.topic, "backend": event.backend.name, "status": event.get_status_display()},
                detail=detail,
                level=level,
                url=change_url(event),
            )
        )
    return entries


def _exchanges(order: Order, order_type: ContentType) -> list[TimelineEntry]:
    rows = JournalEntry.objects.filter(content_type=order_type, object_id=str(order.pk)).order_by("-created_at")[
        :PER_SOURCE
    ]
    backends = {b.pk: b for b in Backend.objects.filter(pk__in={row.backend_id for row in rows if row.backend_id})}
    entries = []
    for row in rows:
        backend = backends.get(row.backend_id)
        status = str(row.status_code) if row.status_code is not None else _("no answer")
        entries.append(
            TimelineEntry(
                at=row.created_at,
                source=_side(backend),
                kind="exchange",
                title=f"{row.get_direction_display()} {row.method} {row.url[:120]} → {status}",
                detail=" ".join(part for part in ((row.error or "")[:300], f"({row.duration_ms} ms)" if row.duration_ms else "") if part),
                level="info" if row.ok else "error",
                url=change_url(row),
            )
        )
    return entries


def _conflicts(order: Order, order_type: ContentType) -> list[TimelineEntry]:
    line_type = ContentType.objects.get_for_model(OrderLine)
    line_ids = list(order.lines.values_list("pk", flat=True))
    conflicts = Conflict.objects.filter(
        content_type=order_type, object_id=order.pk
    ) | Conflict.objects.filter(content_type=line_type, object_id__in=line_ids)
    entries = []
    for conflict in conflicts.select_related("resolved_by").order_by("-last_seen_at")[:PER_SOURCE]:
        title = _("Conflict on %(field)s: ERP %(erp)s, CRM %(crm)s — %(status)s") % {
            "field": conflict.field,
            "erp": conflict.erp_value,
            "crm": conflict.crm_value,
            "status": conflict.get_status_display(),
        }
        detail = conflict.get_policy_display()
        if conflict.resolution:
            detail = _("%(resolution)s by %(user)s: %(reason)s") % {
                "resolution": conflict.get_resolution_display(),
                "user": conflict.resolved_by or "—",
                "reason": conflict.reason or "—",
            }
        entries.append(
            TimelineEntry(
                at=conflict.resolved_at or conflict.last_seen_at,
                source="staff" if conflict.resolved_by_id else "platform",
                kind="conflict",
                title=title,
                detail=detail,
                level="warning" if conflict.status == Conflict.Status.OPEN else "info",
                url=change_url(conflict),
            )
        )
    return entries


def _documents(order: Order) -> list[TimelineEntry]:
    entries = []
    for document in Document.objects.filter(order=order).order_by("-requested_at")[:PER_SOURCE]:
        title = _("%(kind)s %(number)s: %(status)s") % {
            "kind": document.get_kind_display(),
            "number": document.number or "",
            "status": document.get_status_display(),
        }
        detail = document.error
        if document.totals_mismatch:
            detail = _("totals differ from the ERP: %(ours)s vs %(erp)s") % {
                "ours": document.total,
                "erp": document.erp_total,
            }
        entries.append(
            TimelineEntry(
                at=document.issued_at or document.requested_at,
                source="erp" if document.source == Document.Source.ERP else "platform",
                kind="document",
                title=title,
                detail=detail,
                level="error" if document.has_error else "info",
                url=change_url(document),
            )
        )
    return entries


def _payments(order: Order) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=payment.paid_at,
            source="erp",
            kind="payment",
            title=_("Payment %(number)s: %(amount)s") % {"number": payment.number, "amount": payment.amount},
            detail=payment.purpose,
            url=change_url(payment),
        )
        for payment in Payment.objects.filter(order=order).order_by("-paid_at")[:PER_SOURCE]
    ]


def _shipments(order: Order) -> list[TimelineEntry]:
    entries = []
    for shipment in Shipment.objects.filter(order=order).prefetch_related("lines__product").order_by("-shipped_at"):
        lines = ", ".join(f"{line.product} × {_qty(line.quantity)}" for line in shipment.lines.all())
        title = _("Return %(number)s") if shipment.is_return else _("Shipment %(number)s")
        entries.append(
            TimelineEntry(
                at=shipment.shipped_at,
                source="erp",
                kind="shipment",
                title=title % {"number": shipment.number},
                detail=lines,
                url=change_url(shipment),
            )
        )
    return entries


def _approvals(order: Order) -> list[TimelineEntry]:
    entries = []
    for approval in Approval.objects.filter(order=order).select_related("decided_by").order_by("-created_at"):
        entries.append(
            TimelineEntry(
                at=approval.created_at,
                source="crm",
                kind="approval",
                title=_("Shortage approval requested by %(who)s") % {"who": approval.requested_by or "—"},
                level="warning",
                url=change_url(approval),
            )
        )
        if approval.decided_at:
            entries.append(
                TimelineEntry(
                    at=approval.decided_at,
                    source="staff",
                    kind="approval",
                    title=_("Shortage %(status)s by %(who)s")
                    % {
                        "status": approval.get_status_display(),
                        "who": approval.decided_by or approval.decided_by_crm_user or "—",
                    },
                    detail=approval.reason,
                    url=change_url(approval),
                )
            )
    return entries


def _reservations(order: Order) -> list[TimelineEntry]:
    rows = Reservation.objects.filter(order=order).select_related("product", "warehouse").order_by("-created_at")
    return [
        TimelineEntry(
            at=row.confirmed_at or row.created_at,
            source="erp" if row.status == Reservation.Status.CONFIRMED else "platform",
            kind="reservation",
            title=_("Reserve %(product)s × %(quantity)s at %(warehouse)s: %(status)s")
            % {
                "product": row.product,
                "quantity": _qty(row.quantity),
                "warehouse": row.warehouse,
                "status": row.get_status_display(),
            },
            detail=_("automatic") if row.automatic else _("manual"),
        )
        for row in rows[:PER_SOURCE]
    ]


def _history(order: Order) -> list[TimelineEntry]:
    records = list(order.history.select_related("history_user").order_by("-history_date", "-history_id")[:PER_SOURCE])
    fields = [
        (str(f.verbose_name), f.attname, dict(f.flatchoices)) for f in Order._meta.fields if f.name not in HISTORY_SKIP
    ]
    entries = []
    for index, record in enumerate(records):
        previous = records[index + 1] if index + 1 < len(records) else None
        if previous is None:
            changes = _("created")
        else:
            changed = [
                f"{label}: {_shown(getattr(previous, attname), choices)} → {_shown(getattr(record, attname), choices)}"
                for label, attname, choices in fields
                if getattr(previous, attname) != getattr(record, attname)
            ]
            if not changed and not record.history_change_reason:
                continue
            changes = "; ".join(changed)
        who = record.history_user or _("integration")
        entries.append(
            TimelineEntry(
                at=record.history_date,
                source="staff" if record.history_user_id else "platform",
                kind="history",
                title=_("Order changed by %(who)s") % {"who": who},
                detail=" — ".join(part for part in (changes, record.history_change_reason or "") if part),
            )
        )
    return entries


def _shown(value, choices: dict) -> str:
    return "—" if value in (None, "") else str(choices.get(value, value))[:80]


def _qty(value) -> str:
    return format(value.normalize(), "f")


def build_timeline(order: Order) -> list[TimelineEntry]:
    """Everything about `order`, newest first."""
    order_type = ContentType.objects.get_for_model(Order)
    entries = [
        *_outbox(order),
        *_exchanges(order, order_type),
        *_conflicts(order, order_type),
        *_documents(order),
        *_payments(order),
        *_shipments(order),
        *_approvals(order),
        *_reservations(order),
        *_history(order),
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries
