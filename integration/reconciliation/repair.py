"""Shared plumbing of the comparisons: the context of one backend's run, a repair attempt that is journaled,
and a drift that cannot be repaired safely recorded as a conflict for staff."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal

from django.db import models, transaction

from documents.errors import DocumentError
from integration import journal
from integration.conflicts import record_conflict
from integration.errors import IntegrationError
from integration.models import Backend, Conflict, JournalEntry
from integration.progress import step
from orders.errors import OrderError

from .report import Drift, ReconcileReport

logger = logging.getLogger(__name__)
CHUNK = 1000  # local rows read per query when the DB side is walked on its own
REPAIR_METHOD = "REPAIR"  # the journal's method column of a repair entry (its URL: reconcile://area/key)


@dataclass
class Context:
    backend: Backend
    report: ReconcileReport
    repair: bool
    progress: Callable | None = None

    def tick(self, area: str) -> None:
        step(f"{self.backend.name}: {area}")
        if self.progress:
            self.progress(sum(self.report.checked.values()), None)

    def drift(
        self,
        area: str,
        key: str,
        *,
        obj: models.Model | None = None,
        erp: str = "",
        platform: str = "",
        crm: str = "",
        cause: str = "",
        fix: Callable[[], object] | None = None,
        conflict_field: str = "",
    ) -> Drift:
        """Report one drift. With repair on: run `fix` (journaled, correlated to `obj`); without a fix, or
        when the fix fails, record a conflict on `obj` (open, for staff; field "reconcile.<conflict_field or
        area>")."""
        drift = Drift(area=area, key=key, erp=erp, platform=platform, crm=crm, cause=cause)
        if self.repair and fix is not None:
            try:
                with journal.correlate(obj):
                    fix()
                drift.repaired = True
            except (IntegrationError, OrderError, DocumentError, ValueError, LookupError) as exc:
                logger.warning("reconcile: repair of %s %s failed: %s", area, key, exc)
                drift.cause = f"{cause}; repair failed: {exc}"
        self.report.add(drift)
        if self.repair:
            if drift.repaired:
                journal_repair(self.backend, obj, drift)
            elif obj is not None:
                record_conflict(
                    obj,
                    # A derived name ("reconcile.<field>"): resolving it records the decision and writes nothing,
                    # since the values here are for reading (they are not the field's own values).
                    f"reconcile.{conflict_field or area}",
                    erp_value=erp,
                    crm_value=crm or platform,
                    policy=Conflict.Policy.ERP_WINS,
                    auto_resolved=False,
                )
        return drift


def journal_repair(backend: Backend, obj: models.Model | None, drift: Drift) -> None:
    """One journal entry per repair: what differed and why, next to the exchanges the repair made."""
    journal.write(
        journal.Exchange(
            direction=JournalEntry.Direction.OUT,
            method=REPAIR_METHOD,
            url=f"reconcile://{drift.area}/{drift.key}",
            status_code=200,
            request_body=json.dumps(asdict(drift), ensure_ascii=False),
        ),
        backend,
        journal.correlation_for(obj) if obj is not None else None,
    )


def atomic(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with transaction.atomic():
            return fn()

    return run


def num(value: Decimal | int | float | None) -> str:
    """A quantity or amount as people read it: 3, 2.5, 500.00 → "3", "2.5", "500"."""
    if value is None:
        return "—"
    return format(Decimal(str(value)).normalize(), "f")
