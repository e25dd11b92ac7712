"""GET /metrics for Prometheus: Django's HTTP/database/cache metrics (django-prometheus) and the integration's own.

Counters incremented in a process (external requests, 429s) use prometheus_client's multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set (gunicorn with several workers, the queue workers and qcluster on the same host
write there; gunicorn.conf.py empties it at start and marks dead workers); each scrape adds up every process.
Backlogs, dead letters, last successful syncs and reservations are read from the database at scrape time, so
every web worker answers the same. Access: a bearer token (AMOERP_METRICS_TOKEN) or a client address in
AMOERP_METRICS_ALLOW (loopback by default)."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

EXTERNAL_REQUESTS = Counter("amoerp_external_requests", "Requests to amoCRM and the ERP, by backend and HTTP status "
                            "('error': no answer)", ["backend", "status"])
EXTERNAL_SECONDS = Histogram("amoerp_external_request_seconds", "Duration of requests to amoCRM and the ERP",
                             ["backend"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
HTTP_429 = Counter("amoerp_http_429", "429 Too Many Requests answers from amoCRM and the ERP", ["backend"])


def observe_external_request(backend: str, status: int | None, seconds: float) -> None:
    EXTERNAL_REQUESTS.labels(backend, str(status) if status else "error").inc()
    EXTERNAL_SECONDS.labels(backend).observe(seconds)
    if status == 429:
        HTTP_429.labels(backend).inc()


class DatabaseCollector:
    """The integration's state as the database holds it, read at every scrape."""

    def collect(self) -> Iterator[Metric]:
        from integration.models import InboxMessage, OutboxEvent, SyncRun
        from orders.models import Reservation

        now = timezone.now()
        pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
        oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
        yield GaugeMetricFamily("amoerp_outbox_pending", "Outbox events waiting to be delivered",
                                value=pending.count())
        yield GaugeMetricFamily("amoerp_outbox_oldest_age_seconds", "Age of the oldest pending outbox event",
                                value=(now - oldest).total_seconds() if oldest else 0)
        yield CounterMetricFamily("amoerp_outbox_dead", "Outbox events given up (dead letters) still kept",
                                  value=OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD).count())
        yield GaugeMetricFamily("amoerp_inbox_pending", "Webhooks received and not yet processed",
                                value=InboxMessage.objects.filter(status__in=[InboxMessage.Status.RECEIVED,
                                                                              InboxMessage.Status.FAILED]).count())
        synced = GaugeMetricFamily("amoerp_sync_last_success_timestamp_seconds",
                                   "When the last successful sync of a kind finished", labels=["backend", "kind"])
        for row in (SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, dry_run=False).values("backend__name", "kind")
                    .annotate(at=Max("finished_at")).order_by("backend__name", "kind")):
            if row["at"]:
                synced.add_metric([row["backend__name"], row["kind"]], row["at"].timestamp())
        yield synced
        reservations = CounterMetricFamily("amoerp_reservations", "Reservations made, by mode", labels=["mode"])
        counts = dict(Reservation.objects.values_list("automatic").annotate(n=Count("id")).order_by())
        for mode, automatic in (("automatic", True), ("manual", False)):
            reservations.add_metric([mode], counts.get(automatic, 0))
        yield reservations


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape = CollectorRegistry()
        scrape.register(_ProcessMetrics())
    scrape.register(DatabaseCollector())
    return scrape


class _ProcessMetrics:
    """This process's own metrics (no multiprocess directory: one process, e.g. runserver)."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def allowed(request: HttpRequest) -> bool:
    token = settings.AMOERP_METRICS["TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.AMOERP_METRICS["ALLOW"])


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponse("forbidden: a bearer token or an allowed address is required\n", status=403,
                            content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
