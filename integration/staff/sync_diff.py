"""Dry run with a per-record diff, and the same diff recorded by the real run.

A dry run here is the real sync run inside one transaction that is rolled back at the end: the tables the sync
writes are read before and after (inside the transaction), compared record by record — created, updated,
deactivated, deleted, with each changed field's value before → after — and the diff is stored on a SyncRun of its
own (dry_run=True) once everything else is undone. The real run takes the same two readings around the
committed run and keeps its diff on its SyncRun, so both can be compared. Nothing leaves the machine during a
dry run but the sync's reads: outbox events and on_commit work are rolled back with the rest.

Kinds whose run writes to a remote side (the amoCRM catalog push) are diffed by the connector itself: it lists
each remote record it would create or update, as the remote side holds it → as it would be sent (REMOTE_DIFFS: a
context manager collecting those entries); the dry run sends nothing, the real run records the same before sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from integration.models import Backend, SyncRun
from integration.syncs import run_sync

# The tables each kind writes (app_label.Model), compared before and after.
SYNC_MODELS: dict[str, tuple[str, ...]] = {
    "catalog": ("catalog.Unit", "catalog.Category", "catalog.PriceList", "catalog.Warehouse", "catalog.Product",
                "catalog.Barcode", "catalog.Pack", "catalog.KitComponent", "catalog.Price"),
    "prices": ("catalog.PriceList", "catalog.Price"),
    "warehouses": ("catalog.Warehouse",),
    "stock": ("catalog.StockLevel", "catalog.Batch"),
    "counterparties": ("catalog.Segment", "counterparties.Counterparty", "counterparties.Phone",
                       "counterparties.Email"),
}
# Kinds that write to a remote side: {kind: the connector's context manager that collects the diff entries}.
REMOTE_DIFFS: dict[str, str] = {"crm_catalog": "integration.amocrm.catalog_push.collecting_diff"}
# Bookkeeping that differs between any two runs (clocks), never a change of the data itself.
IGNORED = {"id", "created_at", "updated_at", "snapshot_at"}
MAX_STORED = 5000  # entries kept on a run; details["diff_total"] has the true number


class _Rollback(Exception):
    pass


@dataclass
class DiffOutcome:
    run: SyncRun
    entries: list[dict]


def supports(kind: str) -> bool:
    return kind in SYNC_MODELS or kind in REMOTE_DIFFS


def _remote_run_with_diff(kind: str, backend: Backend, *, full: bool, dry_run: bool) -> DiffOutcome:
    with import_string(REMOTE_DIFFS[kind])() as entries:
        run = run_sync(kind, backend, full=full, dry_run=dry_run)
    _store(run, entries)
    run.save(update_fields=["details"])
    return DiffOutcome(run, entries)


def _models(kind: str) -> list[type[models.Model]]:
    return [apps.get_model(label) for label in SYNC_MODELS[kind]]


def _fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in IGNORED]


def snapshot(kind: str) -> dict[str, dict[int, dict]]:
    """Every row of the kind's tables: {model label: {pk: {attname: value}}}."""
    out = {}
    for model in _models(kind):
        names = [f.attname for f in _fields(model)]
        out[model._meta.label] = {row["pk"]: {n: row[n] for n in names}
                                  for row in model._base_manager.values("pk", *names).iterator(5000)}
    return out


def _plain(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


class _Labels:
    """FK ids and rows shown by what they are (str, ERP id), so that two runs' diffs compare without their ids."""

    def __init__(self):
        self.cache: dict[tuple[str, int], str] = {}

    def of(self, model, ids: Iterable[int]) -> dict[int, str]:
        label = model._meta.label
        missing = [pk for pk in set(ids) if (label, pk) not in self.cache and pk is not None]
        if missing:
            for obj in model._base_manager.filter(pk__in=missing):
                self.cache[(label, obj.pk)] = str(obj)
        return {pk: self.cache.get((label, pk), f"#{pk}") for pk in ids if pk is not None}


def _render(model, values: dict, labels: _Labels) -> dict:
    out = {}
    for field in _fields(model):
        value = values.get(field.attname)
        if field.is_relation and value is not None:
            value = labels.of(field.related_model, [value]).get(value, f"#{value}")
        out[field.name] = _plain(value)
    return out


def compare(kind: str, before: dict, after: dict) -> list[dict]:
    """The records that changed between two snapshots, each {"action", "model", "external_id", "object",
    "changes": {field: [before, after]}} (the shape integration.staff.diff shows)."""
    labels = _Labels()
    entries: list[dict] = []
    for model in _models(kind):
        label = model._meta.label
        old, new = before.get(label, {}), after.get(label, {})
        changed = [pk for pk in new if pk not in old or old[pk] != new[pk]]
        gone = [pk for pk in old if pk not in new]
        names = labels.of(model, changed)
        for pk in changed:
            now = _render(model, new[pk], labels)
            was = _render(model, old[pk], labels) if pk in old else {}
            changes = {name: [was.get(name), value] for name, value in now.items() if was.get(name) != value}
            if pk not in old:
                action = "create"
            elif was.get("active") is True and now.get("active") is False:
                action = "deactivate"
            else:
                action = "update"
            entries.append({"action": action, "model": label, "external_id": str(now.get("erp_id") or ""),
                            "object": names.get(pk, f"#{pk}"), "changes": changes})
        for pk in gone:
            was = _render(model, old[pk], labels)
            entries.append({"action": "delete", "model": label, "external_id": str(was.get("erp_id") or ""),
                            "object": f"#{pk}", "changes": {name: [value, None] for name, value in was.items()}})
    return entries


def _store(run: SyncRun, entries: list[dict]) -> None:
    run.details = {**(run.details or {}), "diff": entries[:MAX_STORED], "diff_total": len(entries)}


def dry_run_with_diff(kind: str, backend: Backend, *, full: bool = False) -> DiffOutcome:
    """Run the sync for real inside a transaction, diff, roll back; the diff is kept on a dry SyncRun."""
    if not supports(kind):
        raise ValueError(f"kind: no diff dry run for {kind!r}")
    if kind in REMOTE_DIFFS:
        return _remote_run_with_diff(kind, backend, full=full, dry_run=True)
    live = Backend.objects.get(pk=backend.pk)
    live.dry_run = False  # a backend in dry-run mode still gets its diff: everything is rolled back below
    started = timezone.now()
    outcome: dict = {}
    try:
        with transaction.atomic():
            before = snapshot(kind)
            inner = run_sync(kind, live, full=full)
            outcome.update(entries=compare(kind, before, snapshot(kind)), counts={
                name: getattr(inner, name) for name in ("created", "updated", "unchanged", "skipped", "failed")},
                status=inner.status, error=inner.error, details=inner.details)
            raise _Rollback
    except _Rollback:
        pass
    run = SyncRun(backend=backend, kind=kind, full=full, dry_run=True, status=outcome["status"],
                  started_at=started, finished_at=timezone.now(), heartbeat_at=timezone.now(),
                  error=outcome["error"], details=dict(outcome["details"] or {}), **outcome["counts"])
    _store(run, outcome["entries"])
    run.save()
    return DiffOutcome(run, outcome["entries"])


def real_run_with_diff(kind: str, backend: Backend, *, full: bool = False) -> DiffOutcome:
    """The same sync, committed; the records it changed are kept on its SyncRun as a diff."""
    if not supports(kind):
        raise ValueError(f"kind: no diff for {kind!r}")
    if kind in REMOTE_DIFFS:
        return _remote_run_with_diff(kind, backend, full=full, dry_run=False)
    before = snapshot(kind)
    run = run_sync(kind, backend, full=full)
    entries = compare(kind, before, snapshot(kind))
    _store(run, entries)
    run.save(update_fields=["details"])
    return DiffOutcome(run, entries)
