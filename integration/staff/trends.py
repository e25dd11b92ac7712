"""How the integration behaved over the last 24 hours / 7 days / 30 days, for the dashboard and a backend's
charts page: exchanges by result, 429s and errors, sync lag, outbox depth and oldest age, webhook arrivals and
duplicates, reserve success rate. A handful of aggregate queries per period whatever the journal's size (each
grouped by hour in SQL on an indexed time column, folded into buckets here), never a query per point."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Case, Count, DateTimeField, F, Max, Min, Q, Sum, When
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integration.models import Backend, InboxMessage, JournalEntry, OutboxEvent, SyncRun

PERIODS = {
    "24h": (timedelta(hours=24), timedelta(hours=1), gettext_lazy("24 hours")),
    "7d": (timedelta(days=7), timedelta(hours=6), gettext_lazy("7 days")),
    "30d": (timedelta(days=30), timedelta(days=1), gettext_lazy("30 days")),
}
DEFAULT_PERIOD = "24h"


@dataclass
class Line:
    name: str
    values: list[float | None]
    css: str = ""


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    lines: list[Line]


@dataclass
class Trends:
    period: str
    bucket: timedelta
    starts: list[datetime]
    charts: list[Chart] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        fmt = "%d.%m %H:%M" if self.bucket < timedelta(days=1) else "%d.%m"
        return [timezone.localtime(start).strftime(fmt) for start in self.starts]


def _buckets(period: str, now: datetime) -> tuple[timedelta, list[datetime]]:
    span, bucket, _title = PERIODS[period]
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # the current hour included
    count = int(span / bucket)
    first = end - count * bucket
    return bucket, [first + i * bucket for i in range(count)]


def _index(starts: list[datetime], bucket: timedelta, at: datetime) -> int | None:
    position = int((at - starts[0]) / bucket)
    return position if 0 <= position < len(starts) else None


def _fold(rows, starts, bucket, names) -> dict[str, list[float]]:
    """Hourly rows ({"hour": …, name: n}) summed into the period's buckets."""
    out = {name: [0.0] * len(starts) for name in names}
    for row in rows:
        i = _index(starts, bucket, row["hour"])
        if i is not None:
            for name in names:
                out[name][i] += row[name] or 0
    return out


def build_trends(period: str = DEFAULT_PERIOD, *, backend: Backend | None = None, now: datetime | None = None) -> Trends:
    period = period if period in PERIODS else DEFAULT_PERIOD
    now = now or timezone.now()
    bucket, starts = _buckets(period, now)
    start, end = starts[0], starts[-1] + bucket
    trends = Trends(period, bucket, starts)
    by_backend = {"backend": backend} if backend is not None else {}

    # Exchanges by result (the journal): one grouped query.
    failed_net = Q(status_code__isnull=True) | (Q(status_code__lt=400) & ~Q(error=""))
    rows = (JournalEntry.objects.filter(created_at__gte=start, created_at__lt=end, **by_backend)
            .annotate(hour=TruncHour("created_at")).values("hour")
            .annotate(ok=Count("id", filter=Q(status_code__lt=400, error="")),
                      limited=Count("id", filter=Q(status_code=429)),
                      client=Count("id", filter=Q(status_code__gte=400, status_code__lt=500) & ~Q(status_code=429)),
                      server=Count("id", filter=Q(status_code__gte=500)),
                      network=Count("id", filter=failed_net))
            .order_by())
    ex = _fold(rows, starts, bucket, ["ok", "limited", "client", "server", "network"])
    trends.charts.append(Chart("exchanges", _("Exchanges by result"), _("per bucket"), [
        Line(_("succeeded"), ex["ok"], "ok"), Line(_("429 Too Many Requests"), ex["limited"], "limited"),
        Line(_("errors"), [a + b + c for a, b, c in zip(ex["client"], ex["server"], ex["network"], strict=True)],
             "error"),
    ]))
    trends.charts.append(Chart("errors", _("429s and errors"), _("per bucket"), [
        Line("429", ex["limited"], "limited"), Line("4xx", ex["client"], "client"), Line("5xx", ex["server"], "error"),
        Line(_("no answer"), ex["network"], "network"),
    ]))

    trends.charts.append(_sync_lag(starts, bucket, now, by_backend))
    trends.charts.extend(_outbox(starts, bucket, now, by_backend))

    rows = (InboxMessage.objects.filter(received_at__gte=start, received_at__lt=end, **by_backend)
            .annotate(hour=TruncHour("received_at")).values("hour")
            .annotate(arrived=Count("id"), duplicates=Sum("duplicates")).order_by())
    hooks = _fold(rows, starts, bucket, ["arrived", "duplicates"])
    trends.charts.append(Chart("webhooks", _("Webhook arrivals and duplicates"), _("per bucket"), [
        Line(_("arrived"), hooks["arrived"], "ok"), Line(_("duplicates"), hooks["duplicates"], "limited"),
    ]))

    if backend is None or backend.kind != Backend.Kind.AMOCRM:
        trends.charts.append(_reserves(starts, bucket))
    return trends


def _sync_lag(starts, bucket, now, by_backend) -> Chart:
    """At each bucket's end, the longest time since a sync (of any kind that succeeded before) last succeeded."""
    end = starts[-1] + bucket
    done = SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, dry_run=False, finished_at__lt=end, **by_backend)
    last: dict[tuple, datetime] = {}
    earlier = done.filter(finished_at__lt=starts[0]).values("backend_id", "kind").annotate(last=Max("finished_at"))
    for row in earlier.order_by():
        last[(row["backend_id"], row["kind"])] = row["last"]
    hourly: dict[int, dict[tuple, datetime]] = defaultdict(dict)
    rows = (done.filter(finished_at__gte=starts[0]).annotate(hour=TruncHour("finished_at"))
            .values("hour", "backend_id", "kind").annotate(last=Max("finished_at")).order_by("hour"))
    for row in rows:
        i = _index(starts, bucket, row["hour"])
        if i is not None:
            key = (row["backend_id"], row["kind"])
            hourly[i][key] = max(row["last"], hourly[i].get(key, row["last"]))
    values: list[float | None] = []
    for i, start in enumerate(starts):
        last.update(hourly.get(i, {}))
        bucket_end = min(start + bucket, now)
        lags = [(bucket_end - at).total_seconds() / 60 for at in last.values()]
        values.append(round(max(lags), 1) if lags else None)
    return Chart("sync_lag", _("Sync lag (the most behind sync)"), _("minutes"), [Line(_("lag"), values, "lag")])


def _outbox(starts, bucket, now, by_backend) -> list[Chart]:
    """Depth and oldest age at each bucket's end, from the events' lifetimes: one query with a conditional
    count and min per bucket (an event waits from created_at until delivered, dead or discarded)."""
    ends = [min(start + bucket, now) for start in starts]
    left_at = Case(
        When(status=OutboxEvent.Status.DELIVERED, then=F("delivered_at")),
        When(status__in=[OutboxEvent.Status.DEAD, OutboxEvent.Status.DISCARDED], then=F("updated_at")),
        default=None, output_field=DateTimeField(),
    )
    events = (OutboxEvent.objects.filter(created_at__lt=ends[-1], **by_backend)
              .annotate(left_at=left_at).filter(Q(left_at__isnull=True) | Q(left_at__gte=starts[0])))
    aggregates = {}
    for i, at in enumerate(ends):
        waiting = Q(created_at__lte=at) & (Q(left_at__isnull=True) | Q(left_at__gt=at))
        aggregates[f"d{i}"] = Count("id", filter=waiting)
        aggregates[f"o{i}"] = Min("created_at", filter=waiting)
    result = events.aggregate(**aggregates)
    depth = [float(result[f"d{i}"]) for i in range(len(ends))]
    oldest = [round((at - result[f"o{i}"]).total_seconds() / 60, 1) if result[f"o{i}"] else 0.0
              for i, at in enumerate(ends)]
    return [
        Chart("outbox_depth", _("Outbox depth"), _("events waiting"), [Line(_("waiting"), depth, "queue")]),
        Chart("outbox_age", _("Outbox oldest age"), _("minutes"), [Line(_("oldest"), oldest, "lag")]),
    ]


def _reserves(starts, bucket) -> Chart:
    """Reserves made in each bucket, the share the ERP confirmed (percent)."""
    from orders.models import Reservation

    rows = (Reservation.objects.filter(created_at__gte=starts[0], created_at__lt=starts[-1] + bucket)
            .annotate(hour=TruncHour("created_at")).values("hour")
            .annotate(total=Count("id"), confirmed=Count("id", filter=Q(confirmed_at__isnull=False))).order_by())
    folded = _fold(rows, starts, bucket, ["total", "confirmed"])
    share = [round(100 * c / t, 1) if t else None for c, t in zip(folded["confirmed"], folded["total"], strict=True)]
    return Chart("reserves", _("Reserve success rate"), _("percent confirmed by the ERP"), [Line(_("confirmed"), share, "ok")])
