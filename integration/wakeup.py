"""Waking idle queue workers: on PostgreSQL an enqueue sends NOTIFY (delivered when its transaction commits,
dropped when it rolls back), and each worker LISTENs on a connection of its own. Elsewhere workers poll."""

from __future__ import annotations

import logging
import threading

from django.db import DEFAULT_DB_ALIAS, connection, connections

logger = logging.getLogger(__name__)

CHANNEL = "amoerp_queue"
QUEUES = ("outbox", "inbox")


def notify(queue: str) -> None:
    """Tell the workers that `queue` has new work (at commit of the current transaction, if any)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, queue])


class Listener:
    """A thread that LISTENs and sets `events[queue]` on each notification (reconnecting after a failure).
    `ready` is set once it listens, or at once when the database has no LISTEN."""

    def __init__(self, stop: threading.Event, events: dict[str, threading.Event]):
        self.stop = stop
        self.events = events
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="queue-listener", daemon=True)

    @property
    def supported(self) -> bool:
        return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"

    def start(self) -> Listener:
        if self.supported:
            self.thread.start()
        else:
            self.ready.set()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
            try:
                wrapper.connect()
                raw = wrapper.connection
                raw.execute(f"LISTEN {CHANNEL}")
                self.ready.set()
                for event in self.events.values():  # anything enqueued before we listened
                    event.set()
                while not self.stop.is_set():
                    for note in raw.notifies(timeout=0.5):
                        if note.payload in self.events:
                            self.events[note.payload].set()
            except Exception:  # noqa: BLE001 - the database restarts; the workers poll meanwhile
                logger.exception("queue listener: connection lost; reconnecting")
                self.stop.wait(2.0)
            finally:
                wrapper.close()
