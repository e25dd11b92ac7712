"""Outbox semantics in one process: delivery, dead letters, backoff, order, pause, leases, deliver_now."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from integration import outbox, relay
from integration.backends import pause_backend, resume_backend
from integration.errors import RetryableError
from integration.models import OutboxAttempt, OutboxEvent

from . import receiver_handlers  # noqa: F401 - registers "test.deliver"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxEvent.Status


def send(backend, url, aggregate="order:1", seq=0, **kw):
    return outbox.enqueue(backend=backend, topic="test.deliver", aggregate=aggregate, payload={"url": url, "seq": seq}, **kw)


def test_delivers_once_and_records_the_attempt(backend, receiver):
    event = send(backend, f"{receiver.url}/ok")
    assert relay.relay_once("w1") == 1
    event.refresh_from_db()
    assert event.status == Status.DELIVERED
    assert event.result == {"status": 200}
    assert event.lease_owner == "" and event.delivered_at is not None
    assert list(receiver.effects) == [event.idempotency_key]
    attempt = OutboxAttempt.objects.get(event=event)
    assert (attempt.outcome, attempt.number, attempt.worker) == ("delivered", 1, "w1")
    assert relay.relay_once("w1") == 0  # nothing left


def test_enqueue_rolls_back_with_the_business_transaction(backend):
    with pytest.raises(RuntimeError), transaction.atomic():
        send(backend, "http://unused/")
        raise RuntimeError("business failure")
    assert not OutboxEvent.objects.exists()


def test_same_idempotency_key_enqueues_once(backend):
    first = send(backend, "http://unused/", idempotency_key="order-42-v1")
    second = send(backend, "http://unused/", idempotency_key="order-42-v1")
    assert first.pk == second.pk
    assert OutboxEvent.objects.count() == 1
    assert len(send(backend, "http://unused/").idempotency_key) == 36  # default: a uuid


def test_4xx_goes_to_dead_letter_at_once(backend, receiver):
    event = send(backend, f"{receiver.url}/reject")
    relay.relay_once("w1")
    event.refresh_from_db()
    assert event.status == Status.DEAD
    assert event.attempts == 1
    assert "422" in event.last_error
    assert OutboxAttempt.objects.get(event=event).outcome == "dead"


def test_retries_with_backoff_then_dead_after_n(backend, fast_retries):
    event = send(backend, "http://127.0.0.1:9/unreachable")  # connection refused → retryable
    delays = []
    for _ in range(3):
        before = timezone.now()
        OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=before)
        assert relay.relay_once("w1") == 1
        event.refresh_from_db()
        if event.status == Status.PENDING:
            delays.append((event.next_attempt_at - before).total_seconds())
    assert event.status == Status.DEAD
    assert event.attempts == 3
    assert [a.outcome for a in event.attempt_log.all()] == ["retry", "retry", "dead"]
    # base·2^(n-1) + jitter in [0, base): attempt 1 → [0.05, 0.1), attempt 2 → [0.1, 0.15)
    assert 0.05 <= delays[0] < 0.2 and 0.1 <= delays[1] < 0.25, delays


def test_retry_after_is_respected(backend):
    @outbox.handler("test.busy")
    def busy(event):
        raise RetryableError("429", retry_after=120)

    event = outbox.enqueue(backend=backend, topic="test.busy", aggregate="x:1", payload={})
    relay.relay_once("w1")
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert timedelta(seconds=115) < event.next_attempt_at - timezone.now() <= timedelta(seconds=120)


def test_dead_event_blocks_its_aggregate_until_discarded(backend, receiver):
    first = send(backend, f"{receiver.url}/reject", aggregate="order:7", seq=1)
    second = send(backend, f"{receiver.url}/ok", aggregate="order:7", seq=2)
    other = send(backend, f"{receiver.url}/ok", aggregate="order:8", seq=1)
    relay.drain("w1")
    for e in (first, second, other):
        e.refresh_from_db()
    assert (first.status, second.status, other.status) == (Status.DEAD, Status.PENDING, Status.DELIVERED)
    assert outbox.blocking_event(second).pk == first.pk
    assert outbox.discard([first], reason="sent by hand") == 1
    relay.drain("w1")
    second.refresh_from_db()
    assert second.status == Status.DELIVERED
    assert outbox.blocking_event(second) is None


def test_replay_gives_a_dead_event_a_fresh_budget(backend, receiver, fast_retries):
    event = send(backend, f"{receiver.url}/flaky/3")
    for _ in range(3):
        OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        relay.relay_once("w1")
    event.refresh_from_db()
    assert event.status == Status.DEAD
    assert outbox.replay([event]) == 1
    relay.relay_once("w1")
    event.refresh_from_db()
    assert event.status == Status.DELIVERED and event.attempts == 4
    assert receiver.per_key[event.idempotency_key] == 4  # same key every time


def test_paused_backend_holds_events_and_delivers_after_resume(backend, receiver):
    pause_backend(backend, reason="maintenance")
    event = send(backend, f"{receiver.url}/ok")
    assert relay.drain("w1") == 0
    event.refresh_from_db()
    assert event.status == Status.PENDING and not receiver.requests
    resume_backend(backend)
    relay.drain("w1")
    event.refresh_from_db()
    assert event.status == Status.DELIVERED and len(receiver.effects) == 1


def test_expired_lease_is_reclaimed_with_the_same_key(backend, receiver):
    event = send(backend, f"{receiver.url}/ok")
    [claimed] = relay.claim("dead-worker", 10)  # a worker that dies before delivering
    assert claimed.pk == event.pk
    assert relay.claim("w2", 10) == []  # leased
    OutboxEvent.objects.filter(pk=event.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert relay.relay_once("w2") == 1
    event.refresh_from_db()
    assert event.status == Status.DELIVERED and event.attempts == 2
    assert [a.outcome for a in event.attempt_log.all()] == ["lease_expired", "delivered"]
    # The dead worker comes back and reports: its outcome is ignored (it lost the lease).
    relay.deliver("dead-worker", [claimed])
    event.refresh_from_db()
    assert event.attempt_log.count() == 2 and list(receiver.per_key.values()) == [2]
    assert len(receiver.effects) == 1


def test_deliver_now_delivers_in_the_calling_thread(backend, receiver):
    event = send(backend, f"{receiver.url}/ok")
    assert outbox.deliver_now(event, timeout=2.0) is True
    assert event.status == Status.DELIVERED
    blocked_head = send(backend, f"{receiver.url}/slow/10", aggregate="order:9")
    follower = send(backend, f"{receiver.url}/ok", aggregate="order:9")
    assert outbox.deliver_now(follower, timeout=2.0) is False  # held back by the earlier event
    assert outbox.deliver_now(blocked_head, timeout=2.0) is True


def test_deliver_now_honours_the_timeout(backend, receiver):
    event = send(backend, f"{receiver.url}/slow/1500")
    assert outbox.deliver_now(event, timeout=0.3) is False
    event.refresh_from_db()
    assert event.status == Status.PENDING and "Timeout" in event.last_error


def test_dry_run_backend_does_not_call_the_remote(backend, receiver):
    backend.dry_run = True
    backend.save()
    event = send(backend, f"{receiver.url}/ok")
    relay.drain("w1")
    event.refresh_from_db()
    assert event.status == Status.DELIVERED and event.result == {"dry_run": True}
    assert not receiver.requests


def test_deliver_now_refuses_inside_a_transaction(backend, receiver):
    with transaction.atomic():
        event = send(backend, f"{receiver.url}/ok")
        assert outbox.deliver_now(event, timeout=2.0) is False
    assert not receiver.requests
    assert outbox.deliver_now(event, timeout=2.0) is True  # after commit


def test_a_stuck_handler_is_covered_up_to_the_handler_limit_then_taken_over(backend, receiver, settings):
    import threading
    import time

    from django.db import connection

    settings.AMOERP = {**settings.AMOERP, "OUTBOX_LEASE_SECONDS": 0.6, "HANDLER_MAX_SECONDS": 1.0}
    event = send(backend, f"{receiver.url}/slow/3500")
    [claimed] = relay.claim("stuck", 1)

    def run():
        try:
            relay.deliver("stuck", [claimed])
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.0)  # past its lease: the heartbeat has renewed it
    assert relay.claim("other", 1) == []
    started = time.monotonic()
    taken = []
    while not taken and time.monotonic() - started < 2.0:  # the limit passed: renewals stop, the lease lapses
        taken = relay.claim("other", 1)
        time.sleep(0.05)
    assert [e.pk for e in taken] == [event.pk]
    assert worker.is_alive()  # taken over while the stuck handler still runs
    worker.join()
    assert OutboxEvent.objects.get(pk=event.pk).lease_owner == "other"  # the stuck worker's late outcome is ignored
