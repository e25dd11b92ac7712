"""Live progress of long work, written to the database cheaply (at most every PROGRESS_WRITE_SECONDS, plus
on a new step and at the end), with a timeline of samples that stays once the work is over.

    with tracked(Progress.Operation.RECONCILE, "reconcile") as tracker:
        tracker.step("stock")
        tracker(done, total)          # the `progress(done, total=None)` callback the syncs already take

Code deep inside the work reaches the innermost tracker with `current()`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from .models import Progress, SyncRun

logger = logging.getLogger(__name__)

MAX_SAMPLES = 240  # timeline samples kept per run (thinned evenly beyond that)

_current: contextvars.ContextVar[Tracker | None] = contextvars.ContextVar("integration_progress", default=None)


def write_every() -> float:
    return float(settings.AMOERP.get("PROGRESS_WRITE_SECONDS", 1.0))


def current() -> Tracker | None:
    return _current.get()


class Total:
    """A total learned piece by piece (each listing's size as its first page arrives)."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, size: int) -> None:
        self.value += max(0, int(size))


class Tracker:
    """Progress of one piece of work; call it as `tracker(done, total=None)`."""

    def __init__(self, record: Progress, *, errors_from: Callable[[], int] | None = None):
        self.record = record
        self.errors_from = errors_from
        self._started = time.monotonic()
        self._last_write = 0.0
        self._lock = threading.Lock()  # the pilot's managers report from several threads

    def __call__(self, done: int, total: int | None = None) -> None:
        self.update(done=done, total=total)

    def update(self, *, done: int | None = None, total: int | None = None, errors: int | None = None,
               advance: int = 0) -> None:
        with self._lock:
            record = self.record
            if done is not None:
                record.done = max(record.done, int(done))  # never backwards
            record.done += advance
            if total is not None:
                record.total = max(int(total), record.done)
            if errors is not None:
                record.errors = errors
            due = time.monotonic() - self._last_write >= write_every()
            if due:
                self._last_write = time.monotonic()
        if due:
            self.flush()

    def expect(self, total: int) -> None:
        """The total became known (or grew)."""
        self.update(total=total)

    def step(self, name: str) -> None:
        if name != self.record.step:
            self.record.step = name[:200]
            self.flush()

    def flush(self, *, status: str | None = None, error: str = "") -> None:
        record = self.record
        now = timezone.now()
        if self.errors_from is not None:
            record.errors = self.errors_from()
        if status is not None:
            record.status = status
            record.finished_at = now
            record.error = error[:4000]
        record.updated_at = now
        record.timeline = _thin([*record.timeline, sample(record, now)])
        try:
            Progress.objects.filter(pk=record.pk).update(
                done=record.done, total=record.total, unit=record.unit, step=record.step, errors=record.errors,
                status=record.status, updated_at=now, finished_at=record.finished_at, error=record.error,
                timeline=record.timeline,
            )
        except DatabaseError as exc:  # a report, never the reason the work stops (the database restarting)
            logger.warning("progress %s not written: %s", record.pk, exc)
            if not connection.in_atomic_block:
                connection.close()  # the next write opens a fresh connection
        self._last_write = time.monotonic()

    def finish(self, status: str, error: str = "") -> None:
        if status == Progress.Status.SUCCEEDED and self.record.total is None and self.record.unit == Progress.Unit.RECORDS:
            self.record.total = self.record.done  # the work is over: what was done is the whole of it
        self.flush(status=status, error=error)


def sample(record: Progress, now) -> dict:
    return {
        "t": round((now - record.started_at).total_seconds(), 2),
        "done": record.done,
        "total": record.total,
        "errors": record.errors,
        "step": record.step,
    }


def _thin(samples: list[dict]) -> list[dict]:
    if len(samples) <= MAX_SAMPLES:
        return samples
    return [*samples[:-1:2], samples[-1]]  # every other sample, the newest always kept


@contextmanager
def tracked(operation: str, label: str, *, total: int | None = None, unit: str = Progress.Unit.RECORDS,
            sync_run: SyncRun | None = None, reference: str = "",
            errors_from: Callable[[], int] | None = None) -> Iterator[Tracker]:
    """Record the progress of the block; its exception marks the progress failed and propagates."""
    record = Progress.objects.create(
        operation=operation, label=label[:200], total=total, unit=unit, sync_run=sync_run, reference=reference[:64],
    )
    tracker = Tracker(record, errors_from=errors_from)
    token = _current.set(tracker)
    try:
        yield tracker
    except BaseException as exc:
        tracker.finish(Progress.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    else:
        tracker.finish(Progress.Status.SUCCEEDED)
    finally:
        _current.reset(token)


def report(done: int, total: int | None = None) -> None:
    """Report to the innermost tracker, if any (a no-op outside tracked work)."""
    tracker = current()
    if tracker is not None:
        tracker(done, total)


def step(name: str) -> None:
    """Name the current step of the innermost tracker, if any."""
    tracker = current()
    if tracker is not None:
        tracker.step(name)


def chain(*callbacks: Callable[..., None] | None) -> Callable[..., None]:
    """One `progress(done, total=None)` callback calling each of `callbacks` (None ones skipped)."""
    present = [callback for callback in callbacks if callback is not None]

    def call(done: int, total: int | None = None) -> None:
        for callback in present:
            callback(done, total)

    return call


@dataclass(frozen=True)
class Snapshot:
    """What the admin's bar shows: the stored values plus rate, elapsed and time left."""

    id: int
    operation: str
    label: str
    status: str
    done: int
    total: int | None
    unit: str
    percent: float | None
    rate: float | None  # per second
    elapsed: float  # seconds
    eta: float | None  # seconds left
    step: str
    errors: int
    error: str
    started_at: str
    updated_at: str
    finished_at: str | None
    timeline: list[dict]


def snapshot(record: Progress, now=None) -> Snapshot:
    now = now or timezone.now()
    status = record.status
    if status == Progress.Status.RUNNING and record.sync_run_id and record.sync_run.status != SyncRun.Status.RUNNING:
        status = record.sync_run.status  # the run was recovered as abandoned: its process is gone
    end = record.finished_at or (now if status == Progress.Status.RUNNING else record.updated_at)
    elapsed = max(0.0, (end - record.started_at).total_seconds())
    rate = round(record.done / elapsed, 1) if elapsed > 0 and record.done else None
    percent = round(100 * record.done / record.total, 1) if record.total else None
    eta = None
    if status == Progress.Status.RUNNING and record.total and rate:
        eta = round(max(0, record.total - record.done) / rate, 1)
    return Snapshot(
        id=record.pk, operation=record.operation, label=record.label, status=status, done=record.done,
        total=record.total, unit=record.unit, percent=percent, rate=rate, elapsed=round(elapsed, 1), eta=eta,
        step=record.step, errors=record.errors, error=record.error, started_at=record.started_at.isoformat(),
        updated_at=record.updated_at.isoformat(),
        finished_at=record.finished_at.isoformat() if record.finished_at else None, timeline=record.timeline,
    )
