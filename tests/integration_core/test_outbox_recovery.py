"""After an outage of the remote system, the events that waited it out go as soon as it answers again, not at
the end of each one's exponential backoff (which would hold every aggregate behind them for minutes)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integration import relay
from integration.models import OutboxEvent

from .test_outbox import send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxEvent.Status


def test_events_that_waited_out_an_outage_are_due_at_the_first_success(backend, receiver):
    url = f"{receiver.url}/ok"
    receiver.down()
    waiting = [send(backend, url, aggregate=f"order:{n}") for n in range(3)]
    later = send(backend, url, aggregate="order:0", seq=1)  # held behind its aggregate's first event
    assert relay.relay_once("w1") == 3
    for event in waiting:
        event.refresh_from_db()
        assert event.status == Status.PENDING and event.next_attempt_at > timezone.now() + timedelta(seconds=4)

    receiver.up()
    fresh = send(backend, url, aggregate="order:99")
    assert relay.relay_once("w1") == 1  # only the fresh event is due: the ERP answers it
    fresh.refresh_from_db()
    assert fresh.status == Status.DELIVERED
    assert all(e.next_attempt_at <= timezone.now() for e in OutboxEvent.objects.filter(pk__in=[w.pk for w in waiting]))

    relay.drain("w1")
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    keys = [e.idempotency_key for e in [*waiting, later, fresh]]
    assert sorted(receiver.effects) == sorted(keys)
    assert all(receiver.per_key[key] == 1 for key in keys)


def test_events_the_erp_answered_503_during_maintenance_go_at_the_first_success(backend, receiver):
    waiting = send(backend, f"{receiver.url}/flaky/1/503", aggregate="order:1")  # MoySklad's maintenance answer
    relay.relay_once("w1")
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING and waiting.next_attempt_at > timezone.now() + timedelta(seconds=4)

    send(backend, f"{receiver.url}/ok", aggregate="order:2")
    assert relay.relay_once("w1") == 1
    relay.drain("w1")
    waiting.refresh_from_db()
    assert waiting.status == Status.DELIVERED and receiver.per_key[waiting.idempotency_key] == 2


def test_an_event_refused_by_an_answering_erp_keeps_its_backoff(backend, receiver):
    flaky = send(backend, f"{receiver.url}/flaky/5/500", aggregate="order:1")  # the ERP is up; this call failed
    relay.relay_once("w1")
    flaky.refresh_from_db()
    due = flaky.next_attempt_at
    assert flaky.status == Status.PENDING and due > timezone.now() + timedelta(seconds=4)

    send(backend, f"{receiver.url}/ok", aggregate="order:2")
    assert relay.relay_once("w1") == 1
    flaky.refresh_from_db()
    assert flaky.next_attempt_at == due
