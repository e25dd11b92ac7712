"""The integration dashboard's data: per backend syncs and lag, queues, dead letters, failure rates,
token expiry, alerts — a fixed handful of grouped queries whatever the number of backends — and the
panel of the brief's five KPIs (documents.kpis) with a weekly chart each."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from documents.kpis import compute_kpis, kpi_series
from integration.amocrm.models import Alert as ConnectorAlert
from integration.models import (
    Backend,
    Conflict,
    InboxMessage,
    JournalEntry,
    OutboxAttempt,
    OutboxEvent,
    SyncRun,
)

from .charts import line_chart

# A sync whose last success is older than this is flagged (the schedules run stock every 4 min, catalog
# and prices nightly); kinds not listed are shown without a staleness alert.
STALE_AFTER = {
    "stock": timedelta(minutes=15),
    "catalog": timedelta(hours=26),
    "prices": timedelta(hours=26),
}
# amoCRM: an OAuth access token lives a day and is refreshed on use; the refresh token lives 3 months from
# the last refresh, so that is when the account must be re-authorized. A long-lived token just expires.
ACCESS_TOKEN_LIFETIME = timedelta(days=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
TOKEN_WARNING = timedelta(days=7)
FAILURE_RATE_WARNING = 0.2  # share of failed exchanges over the last hour
FAILURE_RATE_MIN_SAMPLE = 5
KPI_DAYS = 30  # the KPI figures cover the last 30 days
KPI_WEEKS = 12  # and their charts the last 12 weeks, one point a week


@dataclass
class Alert:
    level: str  # "error" | "warning"
    message: str
    backend: str = ""


@dataclass
class SyncStatus:
    kind: str
    last_success_at: datetime | None
    last_failure_at: datetime | None
    running: bool
    lag: timedelta | None
    stale: bool


@dataclass
class Rate:
    total: int = 0
    failed: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.failed / self.total, 1) if self.total else None


@dataclass
class BackendStatus:
    backend: Backend
    syncs: list[SyncStatus] = field(default_factory=list)
    outbox_pending: int = 0
    outbox_dead: int = 0
    inbox_pending: int = 0
    inbox_failed: int = 0
    exchanges_hour: Rate = field(default_factory=Rate)
    exchanges_day: Rate = field(default_factory=Rate)
    deliveries_hour: Rate = field(default_factory=Rate)
    deliveries_day: Rate = field(default_factory=Rate)
    token_expires_at: datetime | None = None  # the current access token
    reauthorize_by: datetime | None = None  # when the integration stops working without a new authorization
    disabled_webhooks: list[str] = field(default_factory=list)

    @property
    def token_expired(self) -> bool:
        return self.reauthorize_by is not None and self.reauthorize_by <= timezone.now()


@dataclass
class Dashboard:
    generated_at: datetime
    backends: list[BackendStatus]
    alerts: list[Alert]
    open_conflicts: int


def parse_expiry(value) -> datetime | None:
    """amoCRM `expires_at`: a Unix timestamp (int/float/str of digits) or an ISO 8601 string."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        parsed = parse_datetime(value.strip())
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)
    return None


def token_deadlines(backend: Backend) -> tuple[datetime | None, datetime | None]:
    """(access token expiry, re-authorize-by) of an amoCRM backend; (None, None) for others or when unknown."""
    if backend.kind != Backend.Kind.AMOCRM:
        return None, None
    expires_at = parse_expiry(backend.credentials.get("expires_at"))
    if expires_at is None:
        return None, None
    if backend.credentials.get("long_lived"):
        return expires_at, expires_at
    return expires_at, expires_at - ACCESS_TOKEN_LIFETIME + REFRESH_TOKEN_LIFETIME


def disabled_webhooks(backend: Backend) -> list[str]:
    """Webhooks the remote side disabled, as last seen by the connector in `settings["webhooks"]`
    (a list of {"destination", "disabled"} as amoCRM's GET /api/v4/webhooks returns them)."""
    hooks = backend.settings.get("webhooks") or []
    return [str(hook.get("destination", "")) for hook in hooks if isinstance(hook, dict) and hook.get("disabled")]


def _rates(rows, key: str) -> dict[int, tuple[Rate, Rate]]:
    return {
        row[key]: (Rate(row["total_h"], row["failed_h"]), Rate(row["total_d"], row["failed_d"])) for row in rows
    }


def build_dashboard(now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    backends = list(Backend.objects.filter(active=True).order_by("name"))

    sync_rows = (
        SyncRun.objects.filter(dry_run=False)
        .values("backend_id", "kind")
        .annotate(
            last_success=Max("finished_at", filter=Q(status=SyncRun.Status.SUCCEEDED)),
            last_failure=Max("finished_at", filter=Q(status=SyncRun.Status.FAILED)),
            running=Count("id", filter=Q(status=SyncRun.Status.RUNNING)),
        )
        .order_by("backend_id", "kind")
    )
    syncs: dict[int, list[SyncStatus]] = defaultdict(list)
    for row in sync_rows:
        lag = now - row["last_success"] if row["last_success"] else None
        limit = STALE_AFTER.get(row["kind"])
        stale = limit is not None and (lag is None or lag > limit)
        syncs[row["backend_id"]].append(
            SyncStatus(row["kind"], row["last_success"], row["last_failure"], bool(row["running"]), lag, stale)
        )

    open_outbox = [OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT]
    outbox = {
        row["backend_id"]: row
        for row in OutboxEvent.objects.filter(status__in=[*open_outbox, OutboxEvent.Status.DEAD])
        .values("backend_id")
        .annotate(
            pending=Count("id", filter=Q(status__in=open_outbox)),
            dead=Count("id", filter=Q(status=OutboxEvent.Status.DEAD)),
        )
        .order_by()
    }
    open_inbox = [InboxMessage.Status.RECEIVED, InboxMessage.Status.PROCESSING, InboxMessage.Status.FAILED]
    inbox = {
        row["backend_id"]: row
        for row in InboxMessage.objects.filter(status__in=[*open_inbox, InboxMessage.Status.REJECTED])
        .values("backend_id")
        .annotate(
            pending=Count("id", filter=Q(status__in=open_inbox)),
            failed=Count("id", filter=Q(status__in=[InboxMessage.Status.FAILED, InboxMessage.Status.REJECTED])),
        )
        .order_by()
    }
    journal_failed = Q(status_code__gte=400) | Q(status_code__isnull=True) | ~Q(error="")
    exchanges = _rates(
        JournalEntry.objects.filter(created_at__gte=day)
        .values("backend_id")
        .annotate(
            total_h=Count("id", filter=Q(created_at__gte=hour)),
            failed_h=Count("id", filter=Q(created_at__gte=hour) & journal_failed),
            total_d=Count("id"),
            failed_d=Count("id", filter=journal_failed),
        )
        .order_by(),
        "backend_id",
    )
    attempt_failed = ~Q(outcome__in=[OutboxAttempt.Outcome.DELIVERED, OutboxAttempt.Outcome.PAUSED])
    counted = ~Q(outcome=OutboxAttempt.Outcome.PAUSED)
    deliveries = _rates(
        OutboxAttempt.objects.filter(started_at__gte=day)
        .values("event__backend_id")
        .annotate(
            total_h=Count("id", filter=Q(started_at__gte=hour) & counted),
            failed_h=Count("id", filter=Q(started_at__gte=hour) & attempt_failed),
            total_d=Count("id", filter=counted),
            failed_d=Count("id", filter=attempt_failed),
        )
        .order_by(),
        "event__backend_id",
    )

    statuses: list[BackendStatus] = []
    alerts: list[Alert] = []
    empty = (Rate(), Rate())
    for backend in backends:
        status = BackendStatus(
            backend=backend,
            syncs=syncs.get(backend.pk, []),
            outbox_pending=outbox.get(backend.pk, {}).get("pending", 0),
            outbox_dead=outbox.get(backend.pk, {}).get("dead", 0),
            inbox_pending=inbox.get(backend.pk, {}).get("pending", 0),
            inbox_failed=inbox.get(backend.pk, {}).get("failed", 0),
            exchanges_hour=exchanges.get(backend.pk, empty)[0],
            exchanges_day=exchanges.get(backend.pk, empty)[1],
            deliveries_hour=deliveries.get(backend.pk, empty)[0],
            deliveries_day=deliveries.get(backend.pk, empty)[1],
            token_expires_at=token_deadlines(backend)[0],
            reauthorize_by=token_deadlines(backend)[1],
            disabled_webhooks=disabled_webhooks(backend),
        )
        statuses.append(status)
        alerts.extend(alerts_for(status, now))

    # Alerts the connectors raised (revoked token, blocked account, disabled webhook…) until resolved.
    for raised in ConnectorAlert.objects.filter(resolved_at__isnull=True, backend__active=True).select_related(
        "backend"
    ):
        alerts.append(Alert(raised.level, raised.message, raised.backend.name))

    open_conflicts = Conflict.objects.filter(status=Conflict.Status.OPEN).count()
    if open_conflicts:
        message = ngettext(
            "%(count)d open conflict waits for a decision.", "%(count)d open conflicts wait for a decision.", open_conflicts
        )
        alerts.append(Alert("warning", message % {"count": open_conflicts}))
    alerts.sort(key=lambda alert: alert.level != "error")
    return Dashboard(generated_at=now, backends=statuses, alerts=alerts, open_conflicts=open_conflicts)


def alerts_for(status: BackendStatus, now: datetime) -> list[Alert]:
    backend = status.backend
    name = backend.name
    alerts: list[Alert] = []
    if backend.paused:
        alerts.append(
            Alert(
                "warning",
                _("Backend %(name)s is paused: %(reason)s")
                % {"name": name, "reason": backend.paused_reason or _("no reason given")},
                name,
            )
        )
    if status.outbox_dead:
        message = ngettext(
            "%(count)d dead letter in the outbox of %(name)s.",
            "%(count)d dead letters in the outbox of %(name)s.",
            status.outbox_dead,
        )
        alerts.append(Alert("error", message % {"count": status.outbox_dead, "name": name}, name))
    if status.inbox_failed:
        message = ngettext(
            "%(count)d incoming message of %(name)s failed.",
            "%(count)d incoming messages of %(name)s failed.",
            status.inbox_failed,
        )
        alerts.append(Alert("warning", message % {"count": status.inbox_failed, "name": name}, name))
    if status.reauthorize_by is not None:
        if status.reauthorize_by <= now:
            alerts.append(
                Alert("error", _("The amoCRM token of %(name)s has expired: connect the account again.") % {"name": name}, name)
            )
        elif status.reauthorize_by - now < TOKEN_WARNING:
            alerts.append(
                Alert(
                    "warning",
                    _("The amoCRM token of %(name)s expires on %(date)s.")
                    % {"name": name, "date": date_format(timezone.localtime(status.reauthorize_by), "d.m.Y H:i")},
                    name,
                )
            )
    for destination in status.disabled_webhooks:
        alerts.append(
            Alert(
                "error",
                _("amoCRM disabled the webhook %(url)s of %(name)s.") % {"url": destination, "name": name},
                name,
            )
        )
    rate = status.exchanges_hour
    if rate.total >= FAILURE_RATE_MIN_SAMPLE and rate.failed / rate.total >= FAILURE_RATE_WARNING:
        alerts.append(
            Alert(
                "error",
                _("%(percent)s%% of the exchanges with %(name)s failed in the last hour.")
                % {"percent": rate.percent, "name": name},
                name,
            )
        )
    for sync in status.syncs:
        if sync.stale and not backend.paused:
            alerts.append(
                Alert("warning", _("Sync %(kind)s of %(name)s is behind.") % {"kind": sync.kind, "name": name}, name)
            )
    return alerts


@dataclass
class KpiCard:
    key: str
    title: str
    value: str
    note: str = ""
    chart: str = ""  # inline SVG


@dataclass
class KpiPanel:
    date_from: date
    date_to: date
    cards: list[KpiCard]
    computed_at: datetime = field(default_factory=timezone.now)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _percent(share) -> float | None:
    return None if share is None else round(float(share) * 100, 1)


def build_kpi_panel(today: date | None = None, *, days: int = KPI_DAYS, weeks: int = KPI_WEEKS) -> KpiPanel:
    """The brief's five KPIs over the last `days` days, each charted per week over the last `weeks` weeks."""
    today = today or timezone.localdate()
    date_from = today - timedelta(days=days - 1)
    kpis = compute_kpis(date_from, today)
    series = kpi_series(today - timedelta(weeks=weeks) + timedelta(days=1), today, step="week")
    labels = [f"{point.date_from:%d.%m}–{point.date_to:%d.%m}" for point in series]

    def chart(values, title) -> str:
        return line_chart(list(values), labels, title=str(title))

    errors_title = _("Errors in documents and orders")
    share_title = _("Automatic reserves")
    quote_title = _("Quote to invoice, median")
    minus_title = _("Sales “into the minus”")
    share = _percent(kpis.automatic_reserve_share)
    median = _hours(kpis.quote_to_invoice_median_seconds)
    duplicates = [
        _("counterparties: %(rows)s in %(groups)s groups")
        % {"rows": kpis.duplicate_counterparties, "groups": kpis.duplicate_counterparty_groups}
        if kpis.duplicate_counterparty_groups is not None
        else _("counterparties: not checked"),
        _("products: %(rows)s in %(groups)s groups")
        % {"rows": kpis.duplicate_products, "groups": kpis.duplicate_product_groups}
        if kpis.duplicate_product_groups is not None
        else _("products: not checked"),
    ]
    cards = [
        KpiCard(
            "errors",
            errors_title,
            str(kpis.documents_with_errors + kpis.orders_with_errors),
            _("documents %(docs)s of %(docs_total)s, orders %(orders)s of %(orders_total)s")
            % {
                "docs": kpis.documents_with_errors,
                "docs_total": kpis.documents_total,
                "orders": kpis.orders_with_errors,
                "orders_total": kpis.orders_total,
            },
            chart((p.documents_with_errors + p.orders_with_errors for p in series), errors_title),
        ),
        KpiCard(
            "automatic_reserves",
            share_title,
            "—" if share is None else f"{share:g} %",
            _("%(auto)s of %(total)s reserves") % {"auto": kpis.reservations_automatic, "total": kpis.reservations_total},
            chart((_percent(p.automatic_reserve_share) for p in series), share_title),
        ),
        KpiCard(
            "quote_to_invoice",
            quote_title,
            "—" if median is None else _("%(hours)s h") % {"hours": f"{median:g}"},
            ngettext("%(count)s invoice", "%(count)s invoices", kpis.quote_to_invoice_count)
            % {"count": kpis.quote_to_invoice_count},
            chart((_hours(p.quote_to_invoice_median_seconds) for p in series), quote_title),
        ),
        KpiCard(
            "sales_in_minus",
            minus_title,
            str(kpis.sales_in_minus),
            _("approved shortages"),
            chart((p.sales_in_minus for p in series), minus_title),
        ),
        KpiCard("duplicates", _("Duplicates"), str((kpis.duplicate_counterparties or 0) + (kpis.duplicate_products or 0)),
                "; ".join(str(part) for part in duplicates)),
    ]
    return KpiPanel(date_from=date_from, date_to=today, cards=cards)
