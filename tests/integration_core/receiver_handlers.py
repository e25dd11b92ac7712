"""Outbox handlers used by the tests and the benchmark: POST the payload to payload["url"]."""

from __future__ import annotations

import threading

from integration import http, outbox

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
