"""Retention: the nightly purge of what the integration no longer needs (`manage.py purge`, the
`integration.tasks.purge` schedule). Each table has its own setting (settings.AMOERP, days):

- journal entries older than JOURNAL_RETENTION_DAYS;
- outbox events delivered or discarded longer than OUTBOX_RETENTION_DAYS ago, with their attempts;
  pending, in-flight and dead events (and their attempts) are kept whatever their age;
- inbox messages processed or rejected: the body is emptied after INBOX_BODY_RETENTION_DAYS, the row
  (its deduplication key) deleted after INBOX_RETENTION_DAYS, never inside the webhook deduplication
  window (WEBHOOK_DEDUP_HOURS); received, processing and failed messages are kept whole;
- sync runs finished longer than SYNCRUN_RETENTION_DAYS ago, except the latest run and the latest
  successful run of each backend and kind (the dashboard's "last sync"); running ones are kept;
- progress of other work (reconciliations, drains, pilot rehearsals) finished longer than
  SYNCRUN_RETENTION_DAYS ago (a sync run's progress goes with its run);
- django-simple-history rows older than HISTORY_RETENTION_DAYS, except each object's latest one.

Rows go in batches of PURGE_BATCH primary keys, each batch its own short transaction, so no giant
DELETE holds locks or bloats one transaction; a time budget stops a run early (the next one continues).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import InboxMessage, JournalEntry, OutboxEvent, Progress, SyncRun

DEFAULTS = {
    "OUTBOX_RETENTION_DAYS": 30,
    "INBOX_BODY_RETENTION_DAYS": 7,
    "INBOX_RETENTION_DAYS": 30,
    "WEBHOOK_DEDUP_HOURS": 72,
    "SYNCRUN_RETENTION_DAYS": 90,
    "HISTORY_RETENTION_DAYS": 365,
    "PURGE_BATCH": 2000,
}
OUTBOX_DONE = (OutboxEvent.Status.DELIVERED, OutboxEvent.Status.DISCARDED)
INBOX_DONE = (InboxMessage.Status.PROCESSED, InboxMessage.Status.REJECTED)


def setting(name: str) -> int:
    return int(settings.AMOERP.get(name, DEFAULTS[name]))


@dataclass
class PurgeReport:
    deleted: dict[str, int] = field(default_factory=dict)
    complete: bool = True  # False when the time budget ran out before everything due was purged

    def add(self, name: str, count: int) -> None:
        self.deleted[name] = self.deleted.get(name, 0) + count


class Budget:
    def __init__(self, seconds: float | None):
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def left(self) -> bool:
        return self.deadline is None or time.monotonic() < self.deadline


def _in_batches(queryset: QuerySet, budget: Budget, apply=None) -> tuple[int, bool]:
    """Delete (or `apply(pks)`) the rows of `queryset` batch by batch; returns (rows, finished)."""
    model = queryset.model
    batch = max(1, setting("PURGE_BATCH"))
    done = 0
    while budget.left():
        with transaction.atomic():
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
            if not pks:
                return done, True
            if apply is None:
                model.objects.filter(pk__in=pks).delete()
                done += len(pks)
            else:
                done += apply(pks)
    return done, False


def _cutoff(days: int) -> timedelta:
    return timedelta(days=max(days, 0))


def purge_journal_entries(budget: Budget, now, *, retention_days: int | None = None) -> tuple[int, bool]:
    days = retention_days if retention_days is not None else int(settings.AMOERP.get("JOURNAL_RETENTION_DAYS", 30))
    return _in_batches(JournalEntry.objects.filter(created_at__lt=now - _cutoff(days)), budget)


def purge_outbox(budget: Budget, now) -> tuple[int, bool]:
    """Delivered and discarded events (their attempts go with them, by cascade)."""
    old = OutboxEvent.objects.filter(status__in=OUTBOX_DONE,
                                     updated_at__lt=now - _cutoff(setting("OUTBOX_RETENTION_DAYS")))
    return _in_batches(old, budget)


def strip_inbox_bodies(budget: Budget, now) -> tuple[int, bool]:
    """Empty the bodies of handled messages; the row stays (status, error, dedup key) for the journal."""
    old = InboxMessage.objects.filter(
        status__in=INBOX_DONE, received_at__lt=now - _cutoff(setting("INBOX_BODY_RETENTION_DAYS"))
    ).exclude(body=b"")
    return _in_batches(old, budget, lambda pks: InboxMessage.objects.filter(pk__in=pks).update(body=b""))


def purge_inbox(budget: Budget, now) -> tuple[int, bool]:
    """Handled messages past both their retention and the deduplication window (a redelivery inside the
    window must still find its key and be counted as a duplicate)."""
    keep = max(_cutoff(setting("INBOX_RETENTION_DAYS")), timedelta(hours=max(setting("WEBHOOK_DEDUP_HOURS"), 0)))
    old = InboxMessage.objects.filter(status__in=INBOX_DONE, received_at__lt=now - keep)
    return _in_batches(old, budget)


def _latest_runs() -> set[int]:
    """The latest run and the latest successful real (not dry) run of each backend and kind."""
    latest = SyncRun.objects.values("backend", "kind").annotate(last=Max("id")).values_list("last", flat=True)
    succeeded = (
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, dry_run=False)
        .values("backend", "kind").annotate(last=Max("id")).values_list("last", flat=True)
    )
    return set(latest) | set(succeeded)


def purge_sync_runs(budget: Budget, now) -> tuple[int, bool]:
    cutoff = now - _cutoff(setting("SYNCRUN_RETENTION_DAYS"))
    old = (
        SyncRun.objects.exclude(status=SyncRun.Status.RUNNING)
        .filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, started_at__lt=cutoff))
        .exclude(pk__in=_latest_runs())
    )
    return _in_batches(old, budget)


def purge_progress(budget: Budget, now) -> tuple[int, bool]:
    """Finished progress of work other than syncs (a sync run's progress is deleted with the run)."""
    cutoff = now - _cutoff(setting("SYNCRUN_RETENTION_DAYS"))
    old = Progress.objects.filter(sync_run__isnull=True, finished_at__lt=cutoff)
    return _in_batches(old, budget)


def history_models() -> list:
    """The historical models of every model with django-simple-history's HistoricalRecords."""
    from simple_history.models import registered_models

    tracked = [m for m in registered_models.values() if hasattr(m._meta, "simple_history_manager_attribute")]
    historical = [getattr(m, m._meta.simple_history_manager_attribute).model for m in tracked]
    return sorted(historical, key=lambda model: model._meta.label)


def purge_history(model, budget: Budget, now) -> tuple[int, bool]:
    """History rows older than the retention that have a newer row for the same object."""
    newer = model.objects.filter(id=OuterRef("id"), history_id__gt=OuterRef("history_id"))
    old = model.objects.filter(history_date__lt=now - _cutoff(setting("HISTORY_RETENTION_DAYS"))).filter(
        Exists(newer)
    )
    return _in_batches(old, budget)


def purge(*, max_seconds: float | None = None) -> PurgeReport:
    """Purge every table by its retention; stops early (report.complete False) when the budget runs out."""
    budget = Budget(max_seconds)
    now = timezone.now()
    report = PurgeReport()
    steps = [
        ("journal entries", lambda: purge_journal_entries(budget, now)),
        ("outbox events", lambda: purge_outbox(budget, now)),
        ("inbox messages", lambda: purge_inbox(budget, now)),  # first: no body is emptied only to go
        ("inbox bodies", lambda: strip_inbox_bodies(budget, now)),
        ("sync runs", lambda: purge_sync_runs(budget, now)),
        ("progress", lambda: purge_progress(budget, now)),
        *[(f"history: {m._meta.label}", lambda m=m: purge_history(m, budget, now)) for m in history_models()],
    ]
    for name, step in steps:
        count, finished = step()
        report.add(name, count)
        if not finished:
            report.complete = False
            break
    return report
