"""The outbox relay: claim due events (SKIP LOCKED + lease), deliver outside transactions, record outcomes."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count as sequence
from itertools import zip_longest

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from . import journal, log_context
from .bulk import copy_insert
from .errors import BackendPaused, BudgetSpent, PermanentError, RetryableError
from .http import timeout_cap
from .leases import heartbeat
from .models import Backend, OutboxAttempt, OutboxEvent
from .outbox import earlier_open_events, get_handler, setting
from .ratelimit import deferrable
from .wakeup import notify

logger = logging.getLogger(__name__)
Status = OutboxEvent.Status
Outcome = OutboxAttempt.Outcome
DEFERRED = "deferred"  # not an attempt: the remote's budget was spent, nothing sent (no OutboxAttempt row)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def backoff_seconds(attempt: int) -> float:
    """base·2^(n-1) + jitter in [0, base), capped (settings OUTBOX_BACKOFF_BASE / OUTBOX_BACKOFF_CAP)."""
    base = float(setting("OUTBOX_BACKOFF_BASE", 5.0))
    cap = float(setting("OUTBOX_BACKOFF_CAP", 3600.0))
    return min(cap, base * 2 ** max(0, attempt - 1) + random.uniform(0, base))


def budget_wait_seconds() -> float:
    """How long a delivery's first request may wait for a paced remote's budget (amoCRM's 7 requests a second)
    before the event is deferred for the worker to serve others (setting OUTBOX_BUDGET_WAIT_SECONDS)."""
    return float(setting("OUTBOX_BUDGET_WAIT_SECONDS", 0.5))


def lease_seconds() -> float:
    return float(setting("OUTBOX_LEASE_SECONDS", 60.0))


def _due() -> Q:
    # Leases are set and compared with the database's clock, so workers on hosts whose clocks disagree
    # never steal each other's live leases.
    now = Now()
    return (Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(status=Status.IN_FLIGHT, lease_expires_at__lt=now)) & Q(
        backend__paused=False, backend__active=True
    )


def lease_until() -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=lease_seconds()), output_field=DateTimeField())


_turns = sequence()


def _fair_share(candidates, limit: int) -> list[tuple]:
    """Up to `limit` candidates, taken in turn from each backend's queue (oldest first within each): a backlog
    paced by one side (a thousand deal updates behind amoCRM's 7 requests a second) must not hold the other's
    events (a manager's invoice from the ERP) behind it."""
    backends = list(Backend.objects.filter(active=True, paused=False).order_by("pk").values_list("pk", flat=True))
    if len(backends) < 2:
        return [row[:5] for row in candidates[:limit]]
    first = next(_turns) % len(backends)  # the side that goes first changes from claim to claim: a worker
    backends = backends[first:] + backends[:first]  # slowed to one event a claim still serves every side
    queues = [list(candidates.filter(backend_id=pk)[:limit]) for pk in backends]
    rows: list[tuple] = []
    for turn in zip_longest(*queues):
        rows += [row[:5] for row in turn if row is not None]
    return rows[:limit]


def _walk_in_id_order() -> None:
    """For this transaction, have the planner walk the open events in id order (outbox_open_id) and stop at the
    limit. Its row estimates come from the last ANALYZE: right after a flood (10,000 events bulk-inserted, a
    backlog behind an outage) they still say a few rows are pending, and it chose a bitmap scan of every due
    event, the anti-join of each against its aggregate and a sort — 7–11 ms a claim at a 4,000-event backlog,
    growing with it, instead of 0.3 ms (EXPLAIN ANALYZE, tests/bench/outbox_relay's data)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)")


def claim(worker: str, limit: int, *, only_id: int | None = None) -> list[OutboxEvent]:
    """Lease up to `limit` due events that no earlier undelivered event of their aggregate holds back.

    Every claim counts as an attempt. An event whose lease expired (its worker stopped or was killed before an
    outcome was recorded) is recorded as such; at its attempt limit it is dead, else it is claimed alone, so an
    event that kills its worker cannot take a whole batch down with it again.
    """
    now = timezone.now()
    with transaction.atomic():
        candidates = OutboxEvent.objects.filter(_due()).filter(~earlier_open_events()).order_by("id")
        if only_id is not None:
            candidates = candidates.filter(pk=only_id)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        if connection.vendor == "postgresql":
            _walk_in_id_order()
        rows = _fair_share(candidates.values_list("id", "status", "lease_owner", "attempts", "max_attempts",
                                                  "backend_id"), limit)
        if not rows:
            return []
        expired = [row for row in rows if row[1] == Status.IN_FLIGHT]
        exhausted = [row for row in expired if row[3] >= row[4]]
        retried = [row for row in expired if row[3] < row[4]][:1]
        taken = retried or [row for row in rows if row[1] != Status.IN_FLIGHT]
        lost = [*exhausted, *retried]
        if lost:
            OutboxAttempt.objects.bulk_create(
                OutboxAttempt(
                    event_id=event_id,
                    number=attempts,
                    worker=owner,
                    started_at=now,
                    finished_at=now,
                    outcome=Outcome.LEASE_EXPIRED,
                    error=f"lease of {owner} expired before an outcome was recorded (the worker stopped or was killed)",
                )
                for event_id, _status, owner, attempts, _limit in lost
            )
        for event_id, _status, owner, attempts, limit_ in exhausted:
            OutboxEvent.objects.filter(pk=event_id).update(
                status=Status.DEAD,
                lease_owner="",
                lease_expires_at=None,
                last_error=f"attempt {attempts} of {limit_}: lease of {owner} expired before an outcome was recorded "
                "(the worker stopped or was killed); attempt limit reached",
                updated_at=now,
            )
            logger.warning("outbox: event %s is dead: its worker stopped during %s attempt(s)", event_id, attempts)
        ids = [row[0] for row in taken]
        if not ids:
            return []
        leased = _lease(worker, ids, now)
    turn = {pk: n for n, pk in enumerate(ids)}  # delivered in the fair order they were taken
    leased.sort(key=lambda event: turn[event.pk])
    # One Backend instance per backend for the batch: select_related built (and decrypted the credentials of)
    # one per event, a tenth of the relay's CPU; shared, a token refreshed by one handler serves the next too.
    backends = Backend.objects.in_bulk({event.backend_id for event in leased})
    for event in leased:
        event.backend = backends[event.backend_id]
    return leased


def _lease(worker: str, ids: list[int], now: datetime) -> list[OutboxEvent]:
    """Mark the claimed rows in flight for `worker` and return them. On PostgreSQL one UPDATE … RETURNING: the
    rows are locked by the claim's SELECT … FOR UPDATE in this transaction, so they are still due, and reading
    them back is a second statement (and a second walk of the ids) saved per batch."""
    if connection.vendor == "postgresql":
        table = OutboxEvent._meta.db_table
        columns = ", ".join(connection.ops.quote_name(f.column) for f in OutboxEvent._meta.concrete_fields)
        return list(OutboxEvent.objects.raw(
            f'UPDATE "{table}" SET status = %s, lease_owner = %s, '
            "lease_expires_at = STATEMENT_TIMESTAMP() + %s * INTERVAL '1 second', attempts = attempts + 1, "
            f"updated_at = %s WHERE id = ANY(%s) RETURNING {columns}",
            [Status.IN_FLIGHT, worker, lease_seconds(), now, ids]))
    # Still due: without row locks (SQLite) a concurrent claimer may have taken some of them meanwhile.
    OutboxEvent.objects.filter(_due(), pk__in=ids).update(
        status=Status.IN_FLIGHT,
        lease_owner=worker,
        lease_expires_at=lease_until(),
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    return list(OutboxEvent.objects.filter(pk__in=ids, status=Status.IN_FLIGHT, lease_owner=worker))


@dataclass
class _Result:
    event: OutboxEvent
    outcome: str
    started_at: datetime
    finished_at: datetime
    error: str = ""
    result: dict | None = None
    retry_after: float | None = None


def _correlation(event: OutboxEvent) -> journal.Correlation | None:
    app_label, _sep, model = event.aggregate_type.partition(".")
    if not model or not event.aggregate_id:
        return None
    try:
        content_type = ContentType.objects.get_by_natural_key(app_label, model)
    except ContentType.DoesNotExist:
        return None
    return journal.Correlation(content_type.pk, event.aggregate_id, f"{event.aggregate_type}#{event.aggregate_id}")


def _call(event: OutboxEvent) -> _Result:
    with log_context.bind(outbox_event_id=event.pk):  # on every log line of the handler (LOG_FORMAT=json)
        return _handle(event)


def _handle(event: OutboxEvent) -> _Result:
    started = timezone.now()
    fn = get_handler(event.topic)
    try:
        if event.backend.dry_run:
            result = {"dry_run": True}
        elif fn is None:
            raise PermanentError(f"no handler registered for topic {event.topic!r}")
        else:
            correlation = _correlation(event)
            token = journal._correlation.set(correlation or journal.current_correlation())
            try:
                with deferrable(budget_wait_seconds()):
                    result = fn(event)
            finally:
                journal._correlation.reset(token)
        if result is not None and not isinstance(result, dict):
            result = {"result": str(result)}
        return _Result(event, Outcome.DELIVERED, started, timezone.now(), result=result)
    except BackendPaused as exc:
        return _Result(event, Outcome.PAUSED, started, timezone.now(), error=str(exc))
    except BudgetSpent as exc:
        return _Result(event, DEFERRED, started, timezone.now(), error=str(exc), retry_after=exc.retry_after)
    except PermanentError as exc:
        return _Result(event, Outcome.DEAD, started, timezone.now(), error=f"PermanentError: {exc}")
    except RetryableError as exc:
        return _Result(event, Outcome.RETRY, started, timezone.now(), error=f"RetryableError: {exc}", retry_after=exc.retry_after)
    except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the relay; it is retried, then dead
        logger.exception("outbox: handler of %s failed on event %s", event.topic, event.pk)
        return _Result(event, Outcome.RETRY, started, timezone.now(), error=f"{type(exc).__name__}: {exc}")


def _outcome(r: _Result, now: datetime, worker: str) -> tuple[dict, OutboxAttempt | None]:
    """The OUTCOME_FIELDS of the event as this attempt leaves it (applied to the caller's object only once saved)
    and the attempt row to add (none for a deferral, which sent nothing)."""
    event = r.event
    outcome = r.outcome
    values = {"status": event.status, "delivered_at": event.delivered_at, "result": event.result,
              "last_error": event.last_error, "attempts": event.attempts, "next_attempt_at": event.next_attempt_at,
              "lease_owner": "", "lease_expires_at": None, "updated_at": now}
    if outcome == Outcome.DELIVERED:
        values.update(status=Status.DELIVERED, delivered_at=r.finished_at, result=r.result, last_error="")
    elif outcome == DEFERRED:
        values.update(status=Status.PENDING, attempts=max(0, event.attempts - 1),
                      next_attempt_at=now + timedelta(seconds=r.retry_after or 0))
    elif outcome == Outcome.PAUSED:  # held, not failed
        values.update(status=Status.PENDING, attempts=max(0, event.attempts - 1),
                      next_attempt_at=now + timedelta(seconds=5), last_error=r.error)
    elif outcome == Outcome.RETRY and event.attempts < event.max_attempts:
        delay = r.retry_after if r.retry_after is not None else backoff_seconds(event.attempts)
        values.update(status=Status.PENDING, next_attempt_at=now + timedelta(seconds=delay), last_error=r.error)
    else:
        outcome = Outcome.DEAD
        values.update(status=Status.DEAD, last_error=r.error)
    if outcome == DEFERRED:
        return values, None
    return values, OutboxAttempt(
        event_id=event.pk,
        number=values["attempts"],
        worker=worker,
        started_at=r.started_at,
        finished_at=r.finished_at,
        duration_ms=int((r.finished_at - r.started_at).total_seconds() * 1000),
        outcome=outcome,
        error=r.error[:4000],
    )


def _record(worker: str, results: list[_Result]) -> None:
    """Write the outcomes of this worker's attempts in one transaction (only for events it still leases)."""
    if not results:
        return
    now = timezone.now()
    outcomes = [_outcome(r, now, worker) for r in results]
    with transaction.atomic():
        owned = _save_outcomes(worker, [(r.event, values) for r, (values, _attempt) in zip(results, outcomes, strict=True)], now)
        copy_insert(OutboxAttempt, [attempt for _values, attempt in outcomes if attempt is not None and attempt.event_id in owned])
    for r, (values, _attempt) in zip(results, outcomes, strict=True):
        if r.event.pk in owned:
            r.event.__dict__.update(values)
        else:
            logger.warning("outbox: lease of event %s lost by %s; outcome %s not recorded", r.event.pk, worker, r.outcome)
    _outages.saw({r.event.backend_id for r in results if r.outcome == Outcome.RETRY and r.error.startswith(AWAY)})
    answered = _outages.due({r.event.backend_id for r in results if r.outcome == Outcome.DELIVERED and r.event.pk in owned})
    if answered:
        release_outage_retries(answered)


# How a retry reads when the remote as a whole was away (http.request names the requests error — ConnectionError,
# ConnectTimeout — and check_response the status): unreachable, or a gateway / unavailable answer (MoySklad's
# maintenance answers 503). A read timeout, a 500 or a 429 concern the call itself and keep their backoff.
AWAY = ("RetryableError: Connect", "RetryableError: HTTP 502 ", "RetryableError: HTTP 503 ", "RetryableError: HTTP 504 ")


class _OutageLooks:
    """When this process looks for events waiting out an outage (a transaction and a query): at once after a
    success of a backend it saw away, else at most every OUTBOX_OUTAGE_LOOK_SECONDS (1 s) per backend, for the
    retries other processes recorded. Looking after every batch cost 3 round trips a batch for nothing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.away: set[int] = set()
        self.looked: dict[int, float] = {}

    def saw(self, backend_ids: set[int]) -> None:
        if backend_ids:
            with self.lock:
                self.away |= backend_ids

    def due(self, backend_ids: set[int]) -> set[int]:
        now = time.monotonic()
        every = float(setting("OUTBOX_OUTAGE_LOOK_SECONDS", 1.0))
        with self.lock:
            due = {pk for pk in backend_ids if pk in self.away or now - self.looked.get(pk, -every) >= every}
            self.away -= due
            self.looked.update(dict.fromkeys(due, now))
        return due


_outages = _OutageLooks()


def release_outage_retries(backend_ids: set[int]) -> int:
    """The remote answered again: events that were waiting out its outage are due now, instead of each at the
    end of its own backoff (which would hold every aggregate behind them for minutes after a short outage)."""
    now = timezone.now()
    with transaction.atomic():
        away = Q()
        for prefix in AWAY:
            away |= Q(last_error__startswith=prefix)
        waiting = OutboxEvent.objects.filter(away, backend_id__in=backend_ids, status=Status.PENDING, next_attempt_at__gt=now)
        if connection.features.has_select_for_update_skip_locked:
            waiting = waiting.select_for_update(skip_locked=True)
        ids = list(waiting.values_list("pk", flat=True))
        if ids:
            OutboxEvent.objects.filter(pk__in=ids).update(next_attempt_at=now)
    if ids:
        logger.info("outbox: the remote answers again; %s event(s) that waited out its outage are due now", len(ids))
    return len(ids)


OUTCOME_FIELDS = ["status", "delivered_at", "result", "last_error", "attempts", "next_attempt_at", "lease_owner", "lease_expires_at", "updated_at"]


def _save_outcomes(worker: str, outcomes: list[tuple[OutboxEvent, dict]], now: datetime) -> set[int]:
    """Save the outcomes of the events `worker` still leases; returns their ids. On PostgreSQL one UPDATE … FROM
    (VALUES …) … RETURNING (bulk_update's CASE per field is 100× slower), whose row locks and lease condition
    replace a SELECT … FOR UPDATE of the same rows: a claimer that took an expired lease over meanwhile holds the
    row until it commits, and the UPDATE then finds another owner and leaves the row alone, as the SELECT did."""
    if connection.vendor != "postgresql":
        owned = set(
            OutboxEvent.objects.select_for_update()
            .filter(pk__in=[event.pk for event, _values in outcomes], status=Status.IN_FLIGHT, lease_owner=worker)
            .values_list("pk", flat=True)
        )
        saved = []
        for event, values in outcomes:
            if event.pk in owned:
                event.__dict__.update(values)
                saved.append(event)
        OutboxEvent.objects.bulk_update(saved, OUTCOME_FIELDS)
        return owned
    rows, params = [], []
    for event, v in outcomes:
        rows.append("(%s::bigint, %s, %s::timestamptz, %s::jsonb, %s, %s::int, %s::timestamptz)")
        params += [
            event.pk,
            v["status"],
            v["delivered_at"],
            None if v["result"] is None else json.dumps(v["result"], cls=DjangoJSONEncoder),
            v["last_error"],
            v["attempts"],
            v["next_attempt_at"],
        ]
    table = OutboxEvent._meta.db_table
    sql = (
        f'UPDATE "{table}" AS e SET status = v.status, delivered_at = v.delivered_at, result = v.result, '
        "last_error = v.last_error, attempts = v.attempts, next_attempt_at = v.next_attempt_at, "
        "lease_owner = '', lease_expires_at = NULL, updated_at = %s "
        f"FROM (VALUES {', '.join(rows)}) AS v(id, status, delivered_at, result, last_error, attempts, next_attempt_at) "
        "WHERE e.id = v.id AND e.status = %s AND e.lease_owner = %s RETURNING e.id"
    )
    with connection.cursor() as cursor:
        _walk_in_id_order()  # by the primary key: a bitmap scan of every in_flight entry of outbox_status grows with the backlog
        cursor.execute(sql, [now, *params, Status.IN_FLIGHT, worker])
        return {row[0] for row in cursor.fetchall()}


def renew_leases(worker: str, ids: list[int]) -> int:
    """Extend this worker's live leases among `ids` (rows locked by someone else are skipped, never waited for)."""
    with transaction.atomic():
        owned = OutboxEvent.objects.filter(pk__in=ids, status=Status.IN_FLIGHT, lease_owner=worker)
        if connection.features.has_select_for_update_skip_locked:
            owned = owned.select_for_update(skip_locked=True)
        return OutboxEvent.objects.filter(pk__in=list(owned.values_list("pk", flat=True))).update(
            lease_expires_at=lease_until()
        )


class _Pace:
    """How long this process's deliveries took lately (a moving average): slow ones (an ERP invoice with its print
    form, a deal paced by amoCRM's limit) are claimed a few at a time, so idle workers take the rest instead of
    them waiting behind this one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds = 0.0

    def record(self, seconds: float) -> None:
        with self.lock:
            self.seconds = seconds if not self.seconds else 0.7 * self.seconds + 0.3 * seconds


_pace = _Pace()


def batch_seconds() -> float:
    """About how long one worker's batch should take (setting OUTBOX_BATCH_SECONDS)."""
    return float(setting("OUTBOX_BATCH_SECONDS", 2.0))


def batch_size(limit: int) -> int:
    per_event = _pace.seconds
    return limit if per_event <= 0 else max(1, min(limit, int(batch_seconds() / per_event)))


def reset_pace() -> None:
    _pace.seconds = 0.0


def hand_back(worker: str, ids: list[int]) -> int:
    """Return leased events this worker has not started to the queue, as if never claimed."""
    returned = OutboxEvent.objects.filter(pk__in=ids, status=Status.IN_FLIGHT, lease_owner=worker).update(
        status=Status.PENDING, lease_owner="", lease_expires_at=None, attempts=F("attempts") - 1,
        updated_at=timezone.now())
    if returned:
        notify("outbox")
    return returned


def deliver(worker: str, events: list[OutboxEvent]) -> list[_Result]:
    """Call the handlers of leased events one by one (no transaction open), then record the outcomes
    (and the journal entries of the batch) in bulk. A heartbeat renews the batch's leases meanwhile.
    A batch that runs longer than batch_seconds() hands its unstarted events back for other workers."""
    results: list[_Result] = []
    pending: list[_Result] = []
    ids = [event.pk for event in events]
    every = lease_seconds() / 3
    started = flushed = time.monotonic()
    with journal.buffered(), heartbeat(lambda: renew_leases(worker, ids), every, name=worker) as beat:
        for number, event in enumerate(events):
            if number and time.monotonic() - started > batch_seconds():
                hand_back(worker, ids[number:])
                break
            if time.monotonic() - flushed > every:  # outcomes so far become visible
                journal.flush_buffer()
                _record(worker, pending)
                pending = []
                flushed = time.monotonic()
            beat.handler_starts()
            result = _call(event)
            if result.outcome != DEFERRED:
                _pace.record((result.finished_at - result.started_at).total_seconds())
            pending.append(result)
            results.append(result)
        journal.flush_buffer()
        _record(worker, pending)
    return results


def relay_once(worker_id: str | None = None, limit: int = 50) -> int:
    """Claim and deliver one batch of due events; returns how many were attempted."""
    worker = worker_id or default_worker_id()
    events = claim(worker, batch_size(limit))
    if events:
        return len(deliver(worker, events))
    return 0


def deliver_one(event: OutboxEvent, *, timeout: float) -> bool:
    if journal.in_business_transaction():
        # The remote side must never see an event whose transaction may still roll back.
        logger.warning("outbox: deliver_now(%s) inside a transaction; left to the relay (use on_commit)", event.pk)
        return False
    worker = f"now:{default_worker_id()}"
    claimed = claim(worker, 1, only_id=event.pk)
    if claimed:
        with timeout_cap(timeout):
            deliver(worker, claimed)
    event.refresh_from_db()
    return event.status == Status.DELIVERED


def drain(worker_id: str | None = None, *, limit: int = 50, max_seconds: float | None = None, progress=None) -> int:
    """Deliver everything that is due now (not future retries); returns the number of attempts made.
    `progress(attempts)` is called after each batch."""
    worker = worker_id or default_worker_id()
    deadline = time.monotonic() + max_seconds if max_seconds else None
    total = 0
    while deadline is None or time.monotonic() < deadline:
        count = relay_once(worker, limit)
        total += count
        if count == 0:
            break
        if progress is not None:
            progress(total)
    return total
