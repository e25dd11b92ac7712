"""The queue worker (`manage.py queue_worker`): relays the outbox and processes the inbox continuously, one
thread per queue. An idle loop sleeps until NOTIFY says there is work (PostgreSQL) or `poll` seconds pass,
so an event committed while the worker idles is picked up at once; the poll finds retries coming due,
expired leases and rows written without a notification."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections, connections

from . import inbox, relay
from .outbox import load_handler_modules
from .wakeup import QUEUES, Listener

logger = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    handled: dict[str, int] = field(default_factory=lambda: {queue: 0 for queue in QUEUES})


def _steps(worker: str, limit: int) -> dict[str, Callable[[], int]]:
    return {
        "outbox": lambda: relay.relay_once(worker, limit),
        "inbox": lambda: sum(inbox.process_inbox(worker, limit=limit).values()),
    }


def _loop(queue: str, step: Callable[[], int], wake: threading.Event, stop: threading.Event, poll: float,
          stats: WorkerStats) -> None:
    try:
        while not stop.is_set():
            wake.clear()  # before looking: a notification arriving meanwhile is not lost
            close_old_connections()
            try:
                count = step()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                logger.exception("queue worker: %s batch failed", queue)
                count = 0
                stop.wait(poll)
            stats.handled[queue] += count
            if count == 0:
                wake.wait(poll)
    finally:
        connections.close_all()


def run_worker(
    worker: str,
    *,
    stop: threading.Event,
    poll: float = 0.5,
    limit: int = 50,
    queues: tuple[str, ...] = QUEUES,
    handler_modules: tuple[str, ...] = (),
    on_ready: Callable[[], None] | None = None,
) -> WorkerStats:
    """Run until `stop` is set; returns how many events/messages each queue handled."""
    load_handler_modules(handler_modules)
    wakes = {queue: threading.Event() for queue in queues}
    listener = Listener(stop, wakes).start()
    listener.ready.wait(timeout=10)
    stats = WorkerStats()
    steps = _steps(worker, limit)
    threads = [
        threading.Thread(target=_loop, args=(queue, steps[queue], wakes[queue], stop, poll, stats),
                         name=f"{worker}:{queue}", daemon=True)
        for queue in queues
    ]
    for thread in threads:
        thread.start()
    if on_ready:
        on_ready()
    while not stop.wait(1.0):
        pass
    for wake in wakes.values():
        wake.set()  # idle loops see the stop at once
    for thread in threads:
        thread.join()
    return stats
