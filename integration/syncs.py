"""The sync registry: connectors register `fn(backend, *, full, dry_run, progress=None) -> SyncRun` per kind."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BackendPaused, SyncAlreadyRunning, UnknownSyncKind
from .models import Backend, SyncRun
from .progress import chain
from .progress import report as progress_report
from .syncruns import triggered_by

logger = logging.getLogger(__name__)

KINDS = ("catalog", "prices", "stock", "counterparties", "orders", "erp_changes", "crm_catalog")
Progress = Callable[..., None]  # progress(done: int, total: int | None = None)
SyncFn = Callable[..., SyncRun]


@dataclass(frozen=True)
class RegisteredSync:
    kind: str
    fn: SyncFn
    backend_kinds: tuple[str, ...]


_registry: dict[str, list[RegisteredSync]] = {}


def register(kind: str, *, backend_kinds: tuple[str, ...] | list[str] = ()) -> Callable[[SyncFn], SyncFn]:
    """Register a sync for `kind`, optionally only for some backend kinds (e.g. ("moysklad",))."""

    def decorate(fn: SyncFn) -> SyncFn:
        # Registering again (a module reloaded) replaces the entry; the same fn may serve several backend kinds.
        entries = [e for e in _registry.get(kind, [])
                   if (e.fn.__module__, e.fn.__qualname__, e.backend_kinds)
                   != (fn.__module__, fn.__qualname__, tuple(backend_kinds))]
        entries.append(RegisteredSync(kind, fn, tuple(backend_kinds)))
        _registry[kind] = entries
        return fn

    return decorate


def registered_kinds() -> list[str]:
    return sorted(_registry)


def sync_for(kind: str, backend: Backend) -> SyncFn | None:
    for entry in _registry.get(kind, []):
        if not entry.backend_kinds or backend.kind in entry.backend_kinds:
            return entry.fn
    return None


def backends_for(kind: str) -> list[Backend]:
    """Active backends that have a sync registered for `kind`."""
    return [b for b in Backend.objects.filter(active=True).order_by("name") if sync_for(kind, b) is not None]


def run_sync(
    kind: str,
    backend: Backend,
    *,
    full: bool = False,
    dry_run: bool = False,
    trigger: str = SyncRun.Trigger.MANUAL,
    progress: Progress | None = None,
) -> SyncRun:
    """Run the registered sync of `kind` for one backend (raises UnknownSyncKind, BackendPaused,
    SyncAlreadyRunning)."""
    fn = sync_for(kind, backend)
    if fn is None:
        raise UnknownSyncKind(f"no sync {kind!r} registered for backend {backend.name!r} ({backend.kind})")
    if backend.paused:
        raise BackendPaused(backend.name)
    with triggered_by(trigger):
        # The run's own tracker (started by sync_run inside fn) records what the terminal's bar shows.
        report = chain(progress_report, progress)
        return fn(backend, full=full, dry_run=dry_run or backend.dry_run, progress=report)


def run_scheduled(kind: str, *, full: bool = False) -> dict[str, str]:
    """Run `kind` for every active backend that has it (the schedules' entry point); never raises for one
    backend's failure. Returns {backend name: outcome}."""
    outcomes: dict[str, str] = {}
    for backend in backends_for(kind):
        try:
            run = run_sync(kind, backend, full=full, trigger=SyncRun.Trigger.SCHEDULE)
            outcomes[backend.name] = f"{getattr(run, 'status', 'done')} #{getattr(run, 'pk', '')}"
        except (BackendPaused, SyncAlreadyRunning) as exc:
            outcomes[backend.name] = f"skipped: {exc}"
        except Exception as exc:  # noqa: BLE001 - one backend's failure doesn't stop the others
            logger.exception("scheduled sync %s of %s failed", kind, backend.name)
            outcomes[backend.name] = f"failed: {type(exc).__name__}: {exc}"
    return outcomes
