"""Lease heartbeats: while a worker's handlers run, its leases are renewed, so a slow handler (an amoCRM call
waiting out 429s) never loses its event to a second worker. A worker that dies stops beating and its leases
expire; a handler stuck beyond HANDLER_MAX_SECONDS stops being covered, so its event is taken over too."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def handler_max_seconds() -> float:
    return float(settings.AMOERP["HANDLER_MAX_SECONDS"])


class Heartbeat:
    """Calls `renew()` every `every` seconds in a thread of its own (its own database connection)."""

    def __init__(self, renew: Callable[[], object], every: float, *, name: str):
        self.renew = renew
        self.every = max(0.05, every)
        self.max_seconds = handler_max_seconds()
        self.stop = threading.Event()
        self.handler_started = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat:{name}", daemon=True)

    def handler_starts(self) -> None:
        """Call before each handler: the stuck-handler limit counts from here."""
        self.handler_started = time.monotonic()

    def _run(self) -> None:
        try:
            while not self.stop.wait(self.every):
                if time.monotonic() - self.handler_started > self.max_seconds:
                    continue  # stuck: let the lease lapse so another worker takes over
                try:
                    self.renew()
                except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                    logger.exception("lease heartbeat %s: renewal failed", self.thread.name)
        finally:
            connections.close_all()  # this thread's connections only


@contextmanager
def heartbeat(renew: Callable[[], object], every: float, *, name: str = "") -> Iterator[Heartbeat]:
    beat = Heartbeat(renew, every, name=name)
    beat.thread.start()
    try:
        yield beat
    finally:
        beat.stop.set()
        # Not joined for long: a renewal waiting on a lock must not hold the worker (it gives up on its own).
        beat.thread.join(timeout=1.0)
