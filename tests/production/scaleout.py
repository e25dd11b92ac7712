"""The outbox scale-out scenario, shared by the suite (lean) and `make bench BENCH=outbox_scaleout` (heavy).

N real `queue_worker` processes relay events to a local HTTP receiver standing in for the ERP (deduplicating by
Idempotency-Key, as MoySklad's syncId and amoCRM's request_id do). First the idle pickup latency (single events
committed while the workers sleep on LISTEN), then a flood produced at a steady rate from many orders, during
which one worker is SIGKILLed and restarted and the receiver goes down for a while. Pickup = the first attempt's
start − the event's commit."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "test.deliver"
log = logging.getLogger("scaleout")


@dataclass
class Result:
    events: int
    processes: int
    seconds: float
    events_per_s: float  # delivered per second, first commit to last delivery (bounded by the producer's rate)
    p95_pickup_ms: float
    idle_p95_pickup_ms: float
    duplicates: int  # deliveries on the wire beyond the first per key (a SIGKILL mid-request redelivers)
    lost: int  # events whose effect never reached the receiver
    delivered: int
    dead: int
    attempts_200: int  # 200 answers the receiver gave: what /metrics must count
    worker_cpu_ms_per_event: float  # the queue workers' CPU during the flood (our cost, whatever the machine's load)


class Workers:
    def __init__(self, env: dict[str, str], queues: str = "outbox"):
        self.env = env
        self.queues = queues
        self.processes: dict[str, subprocess.Popen] = {}
        self.killed_cpu = 0.0

    def start(self, name: str) -> None:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "queue_worker", "--worker", name, "--queues", self.queues, "--limit", "100",
             "--lease", "5", "--handlers", "tests.integration_core.receiver_handlers"],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = process.stdout.readline()
        if "running" not in line:
            process.kill()
            raise RuntimeError(f"queue worker {name} did not start: {line!r}")
        self.processes[name] = process

    def kill(self, name: str) -> None:
        self.killed_cpu += process_cpu([self.processes[name].pid])  # its CPU up to the kill
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait(timeout=10)

    def cpu(self) -> float:
        """CPU seconds of every worker started so far (a killed one's until it died)."""
        alive = [p.pid for p in self.processes.values() if p.poll() is None]
        return self.killed_cpu + process_cpu(alive)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def process_cpu(pids: list[int]) -> float:
    """CPU seconds the processes have used so far (Linux /proc), to tell our cost from the machine's load."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def pickup_ms(where: str, percentile: float = 0.95) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(%s) WITHIN GROUP (ORDER BY extract(epoch FROM a.first - e.created_at)) "
            "FROM (SELECT event_id, min(started_at) AS first FROM integration_outboxattempt GROUP BY event_id) a "
            f"JOIN integration_outboxevent e ON e.id = a.event_id WHERE {where}", [percentile])
        value = cursor.fetchone()[0]
    return round(float(value or 0) * 1000, 1)


def produce(backend, url: str, count: int, rate: float, batch: int, prefix: str, progress: list[int]) -> None:
    """`count` events from 500 orders, `batch` per transaction (bulk-inserted, one NOTIFY at commit, as a
    business write of several events does), paced at `rate` events/s."""
    from django.db import connection, transaction

    from integration.models import OutboxEvent
    from integration.wakeup import notify

    started = time.monotonic()
    try:
        for first in range(0, count, batch):
            with transaction.atomic():
                OutboxEvent.objects.bulk_create([
                    OutboxEvent(backend=backend, topic=TOPIC, aggregate_type="orders.order",
                                aggregate_id=str(n % 500), payload={"url": url, "seq": n},
                                idempotency_key=f"{prefix}-{n}")
                    for n in range(first, min(first + batch, count))])
                notify("outbox")
            progress[0] = min(first + batch, count)
            ahead = started + progress[0] / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    finally:
        connection.close()


def throughput(where: str) -> float:
    """Events delivered per second, from the first event's commit to the last delivery."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) / greatest(extract(epoch FROM max(delivered_at) - min(created_at)), 0.001) "
                       f"FROM integration_outboxevent e WHERE {where}")
        return round(float(cursor.fetchone()[0] or 0), 1)


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def run_scaleout(env: dict[str, str], *, events: int, processes: int = 3, rate: float = 1500.0, batch: int = 20,
                 outage_seconds: float = 0.0, idle_samples: int = 10, timeout: float = 600.0,
                 midway: Callable[[], None] | None = None) -> Result:
    """`midway()` runs while the flood is on, right after the worker is killed (the suite kills qcluster there)."""
    from django.db import transaction
    from django.db.models import Count

    from integration import outbox
    from integration.models import Backend, OutboxEvent
    from tests.integration_core.receiver import Receiver

    receiver = Receiver().start()
    backend = Backend.objects.create(name="scale", kind=Backend.Kind.MOYSKLAD, base_url=receiver.url,
                                     credentials={"token": "scale-token-123456"})
    url = f"{receiver.url}/ok"
    workers = Workers(env)
    try:
        for n in range(processes):
            workers.start(f"scale-{n}")
        for n in range(idle_samples):  # idle: every worker sleeps on LISTEN when the event commits
            time.sleep(0.3 + 0.05 * n)
            with transaction.atomic():
                outbox.enqueue(backend=backend, topic=TOPIC, aggregate=f"idle:{n}", payload={"url": url},
                               idempotency_key=f"idle-{n}")
            assert wait_until(lambda n=n: f"idle-{n}" in receiver.effects, 10, 0.005), f"idle-{n} not delivered"
        idle_p95 = pickup_ms("e.idempotency_key LIKE 'idle-%%'")

        progress = [0]
        producer = threading.Thread(target=produce, args=(backend, url, events, rate, batch, "flood", progress))
        cpu = workers.cpu()
        started = time.monotonic()
        producer.start()
        wait_until(lambda: progress[0] >= events * 0.3, timeout)
        workers.kill("scale-0")  # as the OOM killer would: its leased events wait for the lease to expire
        workers.start("scale-0")
        if midway is not None:
            midway()
        if outage_seconds:
            wait_until(lambda: progress[0] >= events * 0.5, timeout)
            receiver.down()  # connections refused: the ERP is down
            time.sleep(outage_seconds)
            receiver.up()
        producer.join()
        open_statuses = [OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT]
        wait_until(lambda: not OutboxEvent.objects.filter(backend=backend, status__in=open_statuses).exists(),
                   timeout, 0.2)
        seconds = time.monotonic() - started
        cpu = workers.cpu() - cpu
    finally:
        workers.stop()
        receiver.stop()
    statuses = dict(OutboxEvent.objects.filter(idempotency_key__startswith="flood-").values_list("status")
                    .annotate(n=Count("id")).order_by())
    keys = {f"flood-{n}" for n in range(events)}
    with receiver.lock:
        duplicates = sum(receiver.per_key[key] - 1 for key in keys if receiver.per_key[key] > 1)
        lost = len(keys - receiver.effects.keys())
        attempts_200 = sum(receiver.per_key.values())
    result = Result(events=events, processes=processes, seconds=round(seconds, 2),
                    events_per_s=throughput("e.idempotency_key LIKE 'flood-%%'"),
                    p95_pickup_ms=pickup_ms("e.idempotency_key LIKE 'flood-%%'"),
                    idle_p95_pickup_ms=idle_p95, duplicates=duplicates, lost=lost,
                    delivered=statuses.get(OutboxEvent.Status.DELIVERED, 0), dead=statuses.get(OutboxEvent.Status.DEAD, 0),
                    attempts_200=attempts_200, worker_cpu_ms_per_event=round(cpu * 1000 / events, 3))
    log.info("%s", result)
    return result
