"""Benchmark: 20,000 outbox events through 3 queue_worker processes (PostgreSQL, Redis when make bench provides
it), produced at 1,500 events/s from 500 orders, one worker SIGKILLed and restarted, the ERP down 5 s."""

from __future__ import annotations

import os

EVENTS = int(os.environ.get("BENCH_SCALEOUT_EVENTS", "20000"))
PROCESSES = int(os.environ.get("BENCH_SCALEOUT_PROCESSES", "3"))
RATE = float(os.environ.get("BENCH_SCALEOUT_RATE", "1500"))


def run() -> list[dict]:
    from tests.production.scaleout import run_scaleout

    env = dict(os.environ)
    if os.environ.get("AMOERP_TEST_REDIS_URL"):
        env["REDIS_URL"] = os.environ["AMOERP_TEST_REDIS_URL"]
    result = run_scaleout(env, events=EVENTS, processes=PROCESSES, rate=RATE, outage_seconds=5.0)
    return [{"bench": "outbox_scaleout", "events": result.events, "processes": result.processes,
             "events_per_s": result.events_per_s, "p95_pickup_ms": result.p95_pickup_ms,
             "idle_p95_pickup_ms": result.idle_p95_pickup_ms, "duplicates": result.duplicates, "lost": result.lost,
             "delivered": result.delivered, "dead": result.dead, "seconds": result.seconds,
             "worker_cpu_ms_per_event": result.worker_cpu_ms_per_event,
             "load_avg": round(os.getloadavg()[0], 1)}]
