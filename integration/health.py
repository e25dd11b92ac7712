"""GET /health/: is the integration working? The database, the cache (Redis with REDIS_URL), the queue (the
django-q2 cluster and the schedules it runs, the outbox and inbox backlog) and every active backend (paused,
token expiry, last successful sync per kind). 200 when every part is healthy, 503 naming the failing parts.
Only names, states and numbers: no URLs, credentials or payloads."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Max, Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integration.models import Backend, InboxMessage, OutboxEvent, SyncRun

LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@dataclass
class Part:
    name: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def limits() -> dict[str, int]:
    return settings.AMOERP_HEALTH


def check_database() -> Part:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return Part("database", False, {"vendor": connection.vendor}, [f"unreachable: {type(exc).__name__}"])
    return Part("database", True, {"vendor": connection.vendor})


def check_cache() -> Part:
    backend = settings.CACHES["default"]["BACKEND"]
    detail = {"backend": backend.rsplit(".", 1)[-1], "shared": backend not in LOCAL_CACHES}
    key = f"amoerp:health:{time.monotonic_ns()}"
    try:
        cache.set(key, "1", 10)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        return Part("cache", False, detail, [f"unreachable: {type(exc).__name__}"])
    return Part("cache", ok, detail, [] if ok else ["a value written could not be read back"])


def age_seconds(moment) -> float | None:
    return round((timezone.now() - moment).total_seconds(), 1) if moment else None


def running_clusters() -> list:
    """The django-q2 clusters whose stats are in the shared cache. Not Stat.get_all(): its broker removes an expired
    key from the list it is iterating and so skips the key after it — after a qcluster was killed and restarted
    within the stats' 3 s, the first look found no cluster at all. This reads the list and leaves it alone."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.signing import BadSignature, SignedPackage

    cache = get_broker().cache
    stats = []
    for key in list(cache.get(Conf.Q_STAT) or []):
        pack = cache.get(key)
        if pack:
            try:
                stats.append(SignedPackage.loads(pack))
            except BadSignature:
                continue
    return stats


def check_queue() -> Part:
    from django_q.models import Schedule

    now = timezone.now()
    max_age = limits()["QUEUE_MAX_AGE_SECONDS"]
    pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
    waiting = InboxMessage.objects.filter(status__in=[InboxMessage.Status.RECEIVED, InboxMessage.Status.FAILED])
    outbox = pending.aggregate(oldest=Min("created_at"))
    overdue_outbox = pending.filter(next_attempt_at__lte=now).aggregate(due=Min("next_attempt_at"))["due"]
    overdue_inbox = waiting.filter(next_attempt_at__lte=now).aggregate(due=Min("next_attempt_at"))["due"]
    late_schedules = Schedule.objects.filter(next_run__lt=now - timedelta(seconds=max_age)).count()
    detail: dict[str, Any] = {
        "outbox_pending": pending.count(),
        "outbox_oldest_age_seconds": age_seconds(outbox["oldest"]),
        "outbox_overdue_seconds": age_seconds(overdue_outbox),
        "outbox_dead": OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD).count(),
        "inbox_pending": waiting.count(),
        "inbox_overdue_seconds": age_seconds(overdue_inbox),
        "schedules_overdue": late_schedules,
    }
    problems = []
    for name in ("outbox", "inbox"):
        overdue = detail[f"{name}_overdue_seconds"]
        if overdue is not None and overdue > max_age:
            problems.append(f"{name}: the oldest due item has waited {overdue:.0f} s (limit {max_age} s)")
    if late_schedules:
        problems.append(f"{late_schedules} schedule(s) more than {max_age} s late: is qcluster running?")
    if settings.CACHES["default"]["BACKEND"] not in LOCAL_CACHES:  # the cluster's stats are visible to us
        clusters = [s for s in running_clusters() if s.status != "Stopped"]
        detail["clusters"] = len(clusters)
        if not clusters:
            problems.append("no django-q2 cluster is running")
    return Part("queue", not problems, detail, problems)


def check_backend(backend: Backend) -> Part:
    max_sync_age = limits()["SYNC_MAX_AGE_SECONDS"]
    detail: dict[str, Any] = {"kind": backend.kind, "paused": backend.paused}
    problems = []
    if backend.paused:
        problems.append("paused")
    credentials = backend.credentials or {}
    expires_at = int(credentials.get("expires_at") or 0)
    if expires_at:
        detail["token_expires_in_seconds"] = int(expires_at - time.time())
        if credentials.get("long_lived") and expires_at < time.time():
            problems.append("the long-lived token has expired")
    last = (SyncRun.objects.filter(backend=backend, status=SyncRun.Status.SUCCEEDED, dry_run=False)
            .values("kind").annotate(at=Max("finished_at")).order_by("kind"))
    syncs = {row["kind"]: age_seconds(row["at"]) for row in last}
    detail["last_success_age_seconds"] = syncs
    for kind, age in syncs.items():
        if age is not None and age > max_sync_age:
            problems.append(f"{kind}: last successful sync {age:.0f} s ago (limit {max_sync_age} s)")
    return Part(f"backend:{backend.name}", not problems, detail, problems)


def check_all() -> list[Part]:
    parts = [check_database(), check_cache()]
    if parts[0].ok:
        parts.append(check_queue())
        parts += [check_backend(b) for b in Backend.objects.filter(active=True).order_by("name")]
    return parts


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    parts = check_all()
    failing = [p.name for p in parts if not p.ok]
    body = {"status": "fail" if failing else "ok", "failing": failing,
            "checks": {p.name: asdict(p) for p in parts}}
    return JsonResponse(body, status=503 if failing else 200, json_dumps_params={"ensure_ascii": False})
