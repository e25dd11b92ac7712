"""The alert rules: each a check of the integration's state returning what it finds now, one finding per
subject (a backend, a sync of a backend). A finding that persists is one incident; it resolves when the
check stops finding it. Thresholds live in `Rule` rows, created with these defaults and edited in the admin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integration.models import Backend, InboxMessage, OutboxEvent, SyncRun

SUSPENDING_CODES = ("blocked", "unauthorized", "payment-required")  # amoCRM answers that pause a backend


@dataclass(frozen=True)
class Finding:
    subject: str
    message: str
    level: str = "error"


@dataclass(frozen=True)
class RuleSpec:
    key: str
    title: object  # lazy text
    unit: object  # lazy text: what the threshold counts
    default: int
    check: Callable[[int, datetime], list[Finding]]


def _active_backends() -> dict[int, Backend]:
    return {b.pk: b for b in Backend.objects.filter(active=True)}


def check_sync_failing(threshold: int, now: datetime) -> list[Finding]:
    """The last `threshold` finished runs of a sync all failed."""
    backends = _active_backends()
    findings = []
    pairs = (SyncRun.objects.filter(backend_id__in=backends, dry_run=False).exclude(status=SyncRun.Status.RUNNING)
             .values_list("backend_id", "kind").distinct())
    for backend_id, kind in pairs:
        last = list(SyncRun.objects.filter(backend_id=backend_id, kind=kind, dry_run=False)
                    .exclude(status=SyncRun.Status.RUNNING).order_by("-started_at", "-id")
                    .values_list("status", "error")[: max(threshold, 1)])
        if len(last) >= threshold and all(status == SyncRun.Status.FAILED for status, _error in last):
            name = backends[backend_id].name
            findings.append(Finding(f"{name}/{kind}", _(
                "Sync %(kind)s of %(name)s failed %(count)s times in a row; the last error: %(error)s")
                % {"kind": kind, "name": name, "count": len(last), "error": last[0][1][:300] or "—"}))
    return findings


def check_sync_stale(threshold: int, now: datetime) -> list[Finding]:
    """A sync that has run before has not succeeded for `threshold` hours."""
    backends = {pk: b for pk, b in _active_backends().items() if not b.paused}
    limit = now - timedelta(hours=threshold)
    rows = (SyncRun.objects.filter(backend_id__in=backends, dry_run=False).values("backend_id", "kind")
            .annotate(success=Max("finished_at", filter=Q(status=SyncRun.Status.SUCCEEDED)), first=Min("started_at"))
            .order_by())
    findings = []
    for row in rows:
        since = row["success"] or row["first"]
        if since < limit:
            name = backends[row["backend_id"]].name
            findings.append(Finding(f"{name}/{row['kind']}", _(
                "Sync %(kind)s of %(name)s has not succeeded since %(since)s.")
                % {"kind": row["kind"], "name": name, "since": date_format(timezone.localtime(since), "d.m.Y H:i")}))
    return findings


def check_outbox_age(threshold: int, now: datetime) -> list[Finding]:
    """The oldest event waiting in a backend's outbox is older than `threshold` minutes."""
    backends = {pk: b for pk, b in _active_backends().items() if not b.paused}  # a paused backend holds on purpose
    rows = (OutboxEvent.objects.filter(backend_id__in=backends,
                                       status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT])
            .values("backend_id").annotate(oldest=Min("created_at"), waiting=Count("id")).order_by())
    findings = []
    for row in rows:
        age = now - row["oldest"]
        if age > timedelta(minutes=threshold):
            name = backends[row["backend_id"]].name
            findings.append(Finding(name, _(
                "The outbox of %(name)s is behind: %(count)s event(s) waiting, the oldest for %(minutes)s min.")
                % {"name": name, "count": row["waiting"], "minutes": int(age.total_seconds() // 60)}))
    return findings


def check_dead_letters(threshold: int, now: datetime) -> list[Finding]:
    """At least `threshold` dead letters in a backend's outbox."""
    backends = _active_backends()
    rows = (OutboxEvent.objects.filter(backend_id__in=backends, status=OutboxEvent.Status.DEAD)
            .values("backend_id").annotate(dead=Count("id")).order_by())
    return [
        Finding(backends[row["backend_id"]].name, _("%(count)s dead letter(s) in the outbox of %(name)s.")
                % {"count": row["dead"], "name": backends[row["backend_id"]].name})
        for row in rows if row["dead"] >= max(threshold, 1)
    ]


def check_backend_suspended(threshold: int, now: datetime) -> list[Finding]:
    """A backend the platform paused because amoCRM refused it (403 block, 401, 402)."""
    from integration.amocrm.models import Alert as ConnectorAlert

    open_alerts = (ConnectorAlert.objects.filter(resolved_at__isnull=True, code__in=SUSPENDING_CODES,
                                                 backend__active=True, backend__paused=True)
                   .select_related("backend").order_by("backend__name", "-created_at"))
    findings: dict[str, Finding] = {}
    for alert in open_alerts:
        findings.setdefault(alert.backend.name, Finding(alert.backend.name, alert.message))
    return list(findings.values())


def check_token_expiry(threshold: int, now: datetime) -> list[Finding]:
    """An amoCRM token that must be renewed within `threshold` days (or already expired)."""
    from integration.staff.dashboard import token_deadlines

    findings = []
    for backend in Backend.objects.filter(active=True, kind=Backend.Kind.AMOCRM).order_by("name"):
        deadline = token_deadlines(backend)[1]
        if deadline is not None and deadline - now < timedelta(days=threshold):
            findings.append(Finding(backend.name, _(
                "The amoCRM token of %(name)s must be renewed by %(date)s: connect the account again.")
                % {"name": backend.name, "date": date_format(timezone.localtime(deadline), "d.m.Y H:i")}))
    return findings


def check_webhooks_silent(threshold: int, now: datetime) -> list[Finding]:
    """No webhook from a backend for `threshold` minutes while its polling syncs saw changes in that time."""
    backends = {pk: b for pk, b in _active_backends().items() if not b.paused}
    since = now - timedelta(minutes=threshold)
    polled = (SyncRun.objects.filter(backend_id__in=backends, dry_run=False, full=False,
                                     status=SyncRun.Status.SUCCEEDED, started_at__gte=since)
              .values("backend_id").annotate(changed=Sum("created") + Sum("updated")).order_by())
    heard = set(InboxMessage.objects.filter(backend_id__in=backends, received_at__gte=since)
                .values_list("backend_id", flat=True).distinct())
    return [
        Finding(backends[row["backend_id"]].name, _(
            "No webhook from %(name)s for %(minutes)s min, while polling found %(count)s change(s): "
            "check the webhook subscriptions.") % {"name": backends[row["backend_id"]].name, "minutes": threshold,
                                                   "count": row["changed"]}, "warning")
        for row in polled if row["changed"] and row["backend_id"] not in heard
    ]


def check_reconciliation_drift(threshold: int, now: datetime) -> list[Finding]:
    """The last finished reconciliation left at least `threshold` drifts unrepaired."""
    from integration.staff.models import ReconcileRun

    run = ReconcileRun.objects.exclude(status=ReconcileRun.Status.RUNNING).first()
    if run is None or run.status != ReconcileRun.Status.SUCCEEDED or run.open_drifts < max(threshold, 1):
        return []
    return [Finding(run.backend_name or "all", _(
        "The reconciliation of %(date)s left %(count)s drift(s) unrepaired: see the «Reconciliation» page.")
        % {"date": date_format(timezone.localtime(run.started_at), "d.m.Y H:i"), "count": run.open_drifts},
        "warning")]


def check_health(threshold: int, now: datetime) -> list[Finding]:
    """A part of `/health/` failing: the database, the cache or the queue (the schedules, the cluster, the due
    backlog). Backend parts are left to the rules above (paused, token, sync age), which say more about them."""
    from integration.health import check_all

    return [
        Finding(part.name, _("The health check fails on %(part)s: %(problems)s")
                % {"part": part.name, "problems": "; ".join(part.problems) or "—"})
        for part in check_all() if not part.ok and not part.name.startswith("backend:")
    ]


RULES: tuple[RuleSpec, ...] = (
    RuleSpec("sync_failing", gettext_lazy("A sync fails again and again"), gettext_lazy("failed runs in a row"), 2,
             check_sync_failing),
    RuleSpec("sync_stale", gettext_lazy("A sync has not succeeded for long"), gettext_lazy("hours"), 26,
             check_sync_stale),
    RuleSpec("outbox_age", gettext_lazy("The outbox is behind"), gettext_lazy("minutes (oldest waiting event)"), 30,
             check_outbox_age),
    RuleSpec("dead_letters", gettext_lazy("Dead letters in the outbox"), gettext_lazy("dead letters"), 1,
             check_dead_letters),
    RuleSpec("backend_suspended", gettext_lazy("A backend paused by the platform (amoCRM refused it)"),
             gettext_lazy("not used"), 1, check_backend_suspended),
    RuleSpec("token_expiry", gettext_lazy("An amoCRM token expires soon"), gettext_lazy("days before"), 7,
             check_token_expiry),
    RuleSpec("webhooks_silent", gettext_lazy("Webhooks silent while polling sees changes"), gettext_lazy("minutes"),
             60, check_webhooks_silent),
    RuleSpec("reconciliation_drift", gettext_lazy("The reconciliation left drifts"), gettext_lazy("open drifts"), 1,
             check_reconciliation_drift),
    RuleSpec("health", gettext_lazy("The health check (/health/) fails"), gettext_lazy("not used"), 1, check_health),
)
BY_KEY = {spec.key: spec for spec in RULES}


def create_default_rules(sender=None, **kwargs) -> None:
    """Create the rules that have no row yet, with their default thresholds (after migrate, before evaluating)."""
    from .models import Rule

    existing = set(Rule.objects.values_list("key", flat=True))
    Rule.objects.bulk_create([Rule(key=spec.key, threshold=spec.default) for spec in RULES if spec.key not in existing])
