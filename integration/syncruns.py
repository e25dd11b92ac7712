"""SyncRun rows: one per sync, with counts; at most one running per (backend, kind).

The partial unique index `syncrun_one_running` enforces the rule. A run left "running" by a killed
process is recovered: its heartbeat is stale, or its process is gone on this host.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from . import log_context
from .errors import SyncAlreadyRunning
from .models import Backend, Progress, SyncRun
from .progress import Tracker, tracked

logger = logging.getLogger(__name__)

_trigger: contextvars.ContextVar[str] = contextvars.ContextVar("integration_sync_trigger", default=SyncRun.Trigger.MANUAL)


@contextmanager
def triggered_by(trigger: str) -> Iterator[None]:
    """Runs started inside the block record `trigger` unless they pass one explicitly."""
    token = _trigger.set(trigger)
    try:
        yield
    finally:
        _trigger.reset(token)


def stale_after() -> timedelta:
    return timedelta(seconds=float(settings.AMOERP.get("SYNC_STALE_SECONDS", 600)))


def process_alive(pid: int) -> bool:
    """Whether a process of this host with this pid runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(run: SyncRun) -> bool:
    if run.heartbeat_at < timezone.now() - stale_after():
        return True
    return run.host == socket.gethostname() and run.pid is not None and run.pid != os.getpid() and not process_alive(run.pid)


def recover_abandoned(backend: Backend, kind: str) -> SyncRun | None:
    """Mark the running run of (backend, kind) failed if its process is gone; returns it if it is still alive."""
    run = SyncRun.objects.filter(backend=backend, kind=kind, status=SyncRun.Status.RUNNING).first()
    if run is None:
        return None
    if _abandoned(run):
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"abandoned: no heartbeat since {run.heartbeat_at.isoformat()} (process {run.host}:{run.pid})",
        )
        logger.warning("sync run %s (%s/%s) was abandoned; marked failed", run.pk, kind, backend.name)
        return None
    return run


@contextmanager
def sync_run(backend: Backend, kind: str, trigger: str | None = None, *, full: bool = False, dry_run: bool = False) -> Iterator[SyncRun]:
    """Record one run of `kind` for `backend`; raises SyncAlreadyRunning if one is in progress.

    The body's exception marks the run failed (with the error) and propagates.
    """
    trigger = trigger or _trigger.get()
    live = recover_abandoned(backend, kind)
    if live is not None:
        raise SyncAlreadyRunning(kind, backend.name, live.pk)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                backend=backend,
                kind=kind,
                trigger=trigger,
                full=full,
                dry_run=dry_run or backend.dry_run,
                host=socket.gethostname()[:128],
                pid=os.getpid(),
            )
    except IntegrityError as exc:
        other = SyncRun.objects.filter(backend=backend, kind=kind, status=SyncRun.Status.RUNNING).values_list("pk", flat=True).first()
        raise SyncAlreadyRunning(kind, backend.name, other) from exc
    run._last_flush = time.monotonic()
    label = f"{kind} / {backend.name}" + (" (dry run)" if run.dry_run else "")
    with tracked(Progress.Operation.SYNC, label, sync_run=run, errors_from=lambda: run.failed) as tracker:
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(run.pk, stop), name=f"syncrun-{run.pk}-heartbeat",
                                daemon=True)
        beat.start()
        try:
            with log_context.bind(sync_run_id=run.pk):
                yield run
        except BaseException as exc:
            _finish(run, SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            stop.set()
            beat.join(timeout=5)
        _finish(run, SyncRun.Status.SUCCEEDED, "")
        _count_unreported(tracker, run)


def _count_unreported(tracker: Tracker, run: SyncRun) -> None:
    """A sync that counted records but never reported progress: its counts are what it did."""
    if tracker.record.done == 0:
        tracker.update(done=sum(getattr(run, name) for name in SyncRun.COUNTERS))


def _heartbeat(run_id: int, stop: threading.Event) -> None:
    """Keep the run's heartbeat fresh while its body is busy (one long HTTP call, a big transaction)."""
    interval = min(30.0, stale_after().total_seconds() / 4)
    try:
        while not stop.wait(interval):
            SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(heartbeat_at=timezone.now())
    except Exception:  # noqa: BLE001 - a missed heartbeat is not worth crashing the sync
        logger.exception("sync run %s: heartbeat failed", run_id)
    finally:
        connection.close()


def _finish(run: SyncRun, status: str, error: str) -> None:
    run.status = status
    run.error = error[:4000]
    run.finished_at = timezone.now()
    run.heartbeat_at = run.finished_at
    run.save()


def bump(run: SyncRun, **counts: int) -> None:
    """Atomically add counts to a run from another process/thread."""
    SyncRun.objects.filter(pk=run.pk).update(**{name: F(name) + value for name, value in counts.items()})
