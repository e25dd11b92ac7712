"""django-q2 task functions (referenced by dotted path from schedules). All are idempotent and bounded
in time (below Q_CLUSTER["timeout"]); overlap is harmless (leases, SKIP LOCKED, SyncRun lock).

The queue itself is run by `manage.py queue_worker` (a process of its own, woken on every enqueue); the
scheduled `drain_queue` only catches up when that process is down."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from . import inbox, journal, relay, syncs
from .outbox import load_handler_modules

logger = logging.getLogger(__name__)


def _budget(seconds: float | None) -> float:
    if seconds is not None:
        return seconds
    # Stay well below the cluster's timeout so a task is never killed mid-batch.
    return min(float(settings.AMOERP.get("PUMP_SECONDS", 50)), float(settings.Q_CLUSTER.get("timeout", 60)) * 0.8)


def drain_queue(max_seconds: float | None = None) -> dict[str, int]:
    """The safety net under `manage.py queue_worker` (scheduled every minute): deliver the outbox and process
    the inbox until nothing is due, within the budget. With the worker running it finds nothing to do; with
    the worker down, the queue still moves once a minute."""
    load_handler_modules()
    deadline = time.monotonic() + _budget(max_seconds)
    worker = f"q:{relay.default_worker_id()}"
    totals = {"outbox": 0, "inbox": 0}
    while time.monotonic() < deadline:
        sent = relay.relay_once(worker)
        received = sum(inbox.process_inbox(worker).values())
        totals["outbox"] += sent
        totals["inbox"] += received
        if not sent and not received:
            break
    if any(totals.values()):
        logger.info("queue safety net: %s outbox event(s), %s inbox message(s) handled", totals["outbox"], totals["inbox"])
    return totals


def run_sync_kind(kind: str, full: bool = False) -> dict[str, str]:
    """Run a registered sync for every active backend that has it (schedule entry point)."""
    return syncs.run_scheduled(kind, full=full)


def refresh_stock() -> dict[str, str]:
    return syncs.run_scheduled("stock")


def sync_catalog() -> dict[str, str]:
    return syncs.run_scheduled("catalog")


def sync_prices() -> dict[str, str]:
    return syncs.run_scheduled("prices")


def sync_erp_changes() -> dict[str, str]:
    return syncs.run_scheduled("erp_changes")


def reconcile_nightly() -> dict[str, int]:
    """Compare the ERP, the platform and amoCRM and repair what is safe; the report is stored for the
    «Сверка» page. Returns the counts (drifts, repaired, open)."""
    from .reconciliation.runs import reconcile_and_store

    run, report = reconcile_and_store(repair=True, trigger="schedule")
    logger.info("reconciliation #%s: %s drift(s), %s repaired", run.pk, len(report.drifts), report.repaired)
    return {"drifts": len(report.drifts), "repaired": report.repaired, "open": len(report.open_drifts)}


def push_crm_catalog() -> dict[str, str]:
    return syncs.run_scheduled("crm_catalog")


def sync_counterparties() -> dict[str, str]:
    return syncs.run_scheduled("counterparties")


def purge_journal() -> int:
    deleted = journal.purge_journal()
    logger.info("integration journal: %s entries purged", deleted)
    return deleted


def purge() -> dict[str, int]:
    """The nightly purge of every table by its retention (integration.retention), within the task budget."""
    from .retention import purge as purge_all

    # Below the cluster's timeout so the task is never killed mid-batch; the next night continues.
    report = purge_all(max_seconds=float(settings.Q_CLUSTER.get("timeout", 60)) * 0.8)
    logger.info("nightly purge%s: %s", "" if report.complete else " (budget spent, continues next night)",
                report.deleted)
    return report.deleted
