"""Benchmark: 10,000 outbox events through two relay worker processes to a local HTTP receiver."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

EVENTS = int(os.environ.get("BENCH_OUTBOX_EVENTS", "10000"))
AGGREGATES = 1000  # ten events per aggregate: per-aggregate ordering is part of the work
WORKERS = 2
ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("bench.outbox_relay")


def _start_worker(name: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "outbox", "relay", "--worker", name, "--limit", "100", "--idle", "0.05",
         "--handlers", "tests.integration_core.receiver_handlers"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # "relay <name>: running" once Django is up
    if "running" not in line:
        proc.kill()
        raise RuntimeError(f"relay worker {name} did not start: {line!r}")
    return proc


def run() -> list[dict]:
    from django.db.models import Count

    from integration.models import Backend, OutboxEvent
    from tests.integration_core.receiver import Receiver
    from tests.production.scaleout import process_cpu

    receiver = Receiver().start()
    backend = Backend.objects.create(name="bench", kind=Backend.Kind.MOYSKLAD, base_url=receiver.url, credentials={"token": "bench-token-123456"})
    workers = [_start_worker(f"bench-{n}") for n in range(WORKERS)]
    try:
        cpu_before = process_cpu([proc.pid for proc in workers])
        url = f"{receiver.url}/ok"
        events = [
            OutboxEvent(
                backend=backend,
                topic="test.deliver",
                aggregate_type="orders.order",
                aggregate_id=str(n % AGGREGATES),
                payload={"url": url, "seq": n // AGGREGATES},
                idempotency_key=str(uuid.uuid4()),
                max_attempts=10,
            )
            for n in range(EVENTS)
        ]
        OutboxEvent.objects.bulk_create(events, batch_size=2000)
        started = time.monotonic()
        deadline = started + 600
        while time.monotonic() < deadline:
            if not OutboxEvent.objects.filter(status__in=["pending", "in_flight"]).exists():
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        worker_cpu = process_cpu([proc.pid for proc in workers]) - cpu_before
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=30)
        receiver.stop()
    keys = set(OutboxEvent.objects.values_list("idempotency_key", flat=True))
    statuses = dict(OutboxEvent.objects.values_list("status").annotate(n=Count("id")))
    duplicates = sum(count - 1 for count in receiver.per_key.values())
    lost = len(keys - set(receiver.effects))
    per_worker = dict(OutboxEvent.objects.values_list("attempt_log__worker").annotate(n=Count("id")))
    log.info("statuses %s, per worker %s, %.1f s", statuses, per_worker, elapsed)
    return [
        {
            "bench": "outbox_relay",
            "events": EVENTS,
            "workers": WORKERS,
            "seconds": round(elapsed, 2),
            "events_per_s": round(EVENTS / elapsed, 1),
            "duplicates": duplicates,
            "lost": lost,
            "delivered": statuses.get("delivered", 0),
            "worker_cpu_ms_per_event": round(worker_cpu * 1000 / EVENTS, 3),
            "load_avg": round(os.getloadavg()[0], 1),
        }
    ]
