"""The relay as real OS processes: two workers in parallel, a worker killed mid-delivery, qcluster."""

import signal
import time

import pytest
from django.db import transaction
from django_q.tasks import async_task

from integration import outbox
from integration.models import OutboxEvent

from .conftest import child_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxEvent.Status


def wait_until(predicate, timeout=30.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def start_relay(children, name, *args):
    proc = children.manage("outbox", "relay", "--worker", name, *args)
    assert "running" in proc.stdout.readline()  # Django is up, the loop starts
    return proc


def test_two_workers_deliver_each_event_exactly_once_in_aggregate_order(backend, receiver, children):
    aggregates, per_aggregate = 30, 8
    a = start_relay(children, "A", "--limit", "10", "--idle", "0.05")
    b = start_relay(children, "B", "--limit", "10", "--idle", "0.05")
    with transaction.atomic():  # all at once, while both workers poll
        for seq in range(per_aggregate):
            for agg in range(aggregates):
                outbox.enqueue(
                    backend=backend,
                    topic="test.deliver",
                    aggregate=f"order:{agg}",
                    payload={"url": f"{receiver.url}/slow/5", "seq": seq},  # 5 ms each: the workers overlap
                )
    total = aggregates * per_aggregate
    assert receiver.wait_for_effects(total, timeout=40), f"{len(receiver.effects)}/{total} delivered"
    assert wait_until(lambda: not OutboxEvent.objects.exclude(status=Status.DELIVERED).exists(), timeout=10)
    assert len(receiver.requests) == total  # no duplicates at all: nothing failed
    assert max(receiver.per_key.values()) == 1
    workers = set(OutboxEvent.objects.values_list("attempt_log__worker", flat=True))
    assert workers == {"A", "B"}, workers  # both took part
    arrivals: dict[str, list[int]] = {}
    for request in receiver.requests:
        arrivals.setdefault(request["body"]["aggregate"], []).append(request["body"]["seq"])
    assert all(seqs == list(range(per_aggregate)) for seqs in arrivals.values()), arrivals
    for proc in (a, b):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_worker_killed_mid_delivery_leads_to_one_redelivery_with_the_same_key(backend, receiver, children):
    event = outbox.enqueue(
        backend=backend, topic="test.deliver", aggregate="order:1", payload={"url": f"{receiver.url}/slow/1500"}
    )
    doomed = start_relay(children, "doomed", "--lease", "1", "--idle", "0.1")
    assert wait_until(lambda: receiver.requests, timeout=20)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=5)
    event.refresh_from_db()
    assert event.status == Status.IN_FLIGHT and event.lease_owner == "doomed"
    start_relay(children, "heir", "--idle", "0.1")
    assert wait_until(lambda: OutboxEvent.objects.get(pk=event.pk).status == Status.DELIVERED, timeout=20)
    assert receiver.per_key[event.idempotency_key] == 2  # redelivered…
    assert list(receiver.effects) == [event.idempotency_key]  # …with one effect
    outcomes = list(OutboxEvent.objects.get(pk=event.pk).attempt_log.values_list("outcome", "worker"))
    assert outcomes == [("lease_expired", "doomed"), ("delivered", "heir")]


def test_qcluster_runs_the_queue_safety_net(backend, receiver, children):
    events = [
        outbox.enqueue(backend=backend, topic="test.deliver", aggregate=f"order:{n}", payload={"url": f"{receiver.url}/ok"})
        for n in range(5)
    ]
    cluster = children.manage("qcluster", env=child_env())
    async_task("integration.tasks.drain_queue")
    assert receiver.wait_for_effects(5, timeout=40), cluster.stderr.read() if cluster.poll() is not None else "timeout"
    assert set(receiver.effects) == {e.idempotency_key for e in events}
    assert wait_until(lambda: OutboxEvent.objects.filter(status=Status.DELIVERED).count() == 5, timeout=10)
