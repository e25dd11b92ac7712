"""Bulk replay from the admin: many outbox events (dead letters) or inbox messages queued again batch by batch,
in the background, with live progress (/admin/staff/progress/<id>/) like the other long work.

A selection no larger than one batch is replayed at once, in the request, as before."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from . import inbox, outbox
from .models import InboxMessage, OutboxEvent, Progress
from .progress import Tracker

logger = logging.getLogger(__name__)

REPLAYERS = {
    "outbox": (OutboxEvent, outbox.replay),
    "inbox": (InboxMessage, inbox.replay),
}


def batch_size() -> int:
    return max(1, int(settings.AMOERP.get("REPLAY_BATCH", 500)))


def replay_in_batches(kind: str, ids: list[int], tracker: Tracker) -> int:
    """Queue the rows again, one batch (one transaction) at a time; returns how many were queued (rows already
    queued or being delivered are left as they are)."""
    model, replay = REPLAYERS[kind]
    queued = 0
    for start in range(0, len(ids), batch_size()):
        chunk = ids[start:start + batch_size()]
        queued += replay(list(model.objects.filter(pk__in=chunk).only("pk")))
        tracker(start + len(chunk))
    tracker.step(f"queued again: {queued}, left as they were: {len(ids) - queued}")
    return queued


def start_bulk_replay(kind: str, ids: list[int], *, label: str) -> Progress:
    """Record the progress and replay in a background thread once the caller's transaction commits."""
    if kind not in REPLAYERS:
        raise ValueError(f"kind: expected one of {sorted(REPLAYERS)}, got {kind!r}")
    record = Progress.objects.create(operation=Progress.Operation.REPLAY, label=label[:200], total=len(ids),
                                     reference=f"replay:{kind}")
    worker = threading.Thread(target=_run, args=(kind, ids, record), name=f"replay-{record.pk}", daemon=True)
    transaction.on_commit(worker.start)
    return record


def _run(kind: str, ids: list[int], record: Progress) -> None:
    tracker = Tracker(record)
    tracker.step(f"{kind}: {len(ids)}")
    try:
        replay_in_batches(kind, ids, tracker)
    except Exception as exc:  # noqa: BLE001 - the failure is shown on the progress page
        logger.exception("bulk replay %s failed", record.pk)
        tracker.finish(Progress.Status.FAILED, f"{type(exc).__name__}: {exc}")
    else:
        tracker.finish(Progress.Status.SUCCEEDED)
    finally:
        close_old_connections()
        connection.close()
