"""Events that send an aggregate's state as it is at delivery: changes made while one waits ride on it."""

import threading

import pytest
from django.db import close_old_connections, transaction

from integration import outbox, relay
from integration.models import OutboxEvent

from . import receiver_handlers  # noqa: F401 - registers "test.deliver"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxEvent.Status


def latest(backend, url, aggregate="order:7"):
    return outbox.enqueue_latest(backend=backend, topic="test.deliver", aggregate=aggregate, payload={"url": url})


def test_changes_while_an_event_waits_ride_on_it(backend, receiver):
    first = latest(backend, f"{receiver.url}/ok")
    assert latest(backend, f"{receiver.url}/ok").pk == first.pk == latest(backend, f"{receiver.url}/ok").pk
    other_order = latest(backend, f"{receiver.url}/ok", aggregate="order:8")
    other_target = latest(backend, f"{receiver.url}/other")
    assert len({first.pk, other_order.pk, other_target.pk}) == 3
    assert relay.relay_once("w1") + relay.relay_once("w1") == 3  # order:7's second waits for its first
    assert list(receiver.effects) == [first.idempotency_key, other_order.idempotency_key, other_target.idempotency_key]


def test_a_change_after_the_worker_took_the_event_gets_its_own(backend, receiver):
    first = latest(backend, f"{receiver.url}/ok")
    assert [e.pk for e in relay.claim("w1", 10)] == [first.pk]  # in flight: it may have read the order already
    second = latest(backend, f"{receiver.url}/ok")
    assert second.pk != first.pk
    assert relay.claim("w2", 10) == []  # the aggregate's order holds: after the first one
    relay.deliver("w1", [first])
    assert relay.relay_once("w2") == 1
    assert OutboxEvent.objects.get(pk=second.pk).status == Status.DELIVERED


def test_a_worker_waits_for_the_business_transaction_that_joined_the_event(backend, receiver):
    waiting = latest(backend, f"{receiver.url}/ok")
    joined, release = threading.Event(), threading.Event()

    def business_transaction():
        try:
            with transaction.atomic():
                assert latest(backend, f"{receiver.url}/ok").pk == waiting.pk
                joined.set()
                release.wait(10)  # the order's change is not committed yet
        finally:
            close_old_connections()

    thread = threading.Thread(target=business_transaction)
    thread.start()
    assert joined.wait(10)
    try:
        assert relay.claim("w1", 10) == []  # a claim now would send the order without the change
    finally:
        release.set()
        thread.join(10)
    assert [e.pk for e in relay.claim("w1", 10)] == [waiting.pk]
