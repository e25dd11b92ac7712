"""Outbox and inbox handlers used by the tests and the benchmark: POST to the receiver at payload["url"]."""

from __future__ import annotations

import json
import os
import signal
import threading

from integration import http, inbox, outbox

_local = threading.local()


def _session(backend):
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    if backend.pk not in sessions:
        sessions[backend.pk] = http.build_session(backend)
    session = sessions[backend.pk]
    session.adapters["http://"].backend = backend  # the latest pause state
    return session


@outbox.handler("test.deliver")
def deliver(event):
    response = http.request(
        _session(event.backend),
        "POST",
        event.payload["url"],
        json={"seq": event.payload.get("seq"), "aggregate": event.aggregate_id, "event": event.pk},
        headers={"Idempotency-Key": event.idempotency_key},
    )
    return {"status": response.status_code}


def _kill_if_marked(payload: dict) -> None:
    """A poison message: while the file named in `kill_while` exists, the worker dies mid-delivery (as on a
    segfault or the OOM killer)."""
    marker = payload.get("kill_while")
    if marker and os.path.exists(marker):
        os.kill(os.getpid(), signal.SIGKILL)


@outbox.handler("test.poison")
def deliver_poison(event):
    _kill_if_marked(event.payload)
    return deliver(event)


@inbox.handler("test.receiver")
def process_message(message):
    """An inbox handler that reports to the receiver: {"url": …, "kill_while": path?} bodies."""
    data = json.loads(message.body_text())
    _kill_if_marked(data)
    http.request(_session(message.backend), "POST", data["url"], json={"message": message.pk},
                 headers={"Idempotency-Key": f"inbox-{message.pk}"})
