"""Slow deliveries (an ERP invoice with its print form, a deal paced by amoCRM's limit) must not queue behind
one worker while the others are idle: in the pilot an invoice waited a minute behind a batch another worker
had claimed."""

import pytest

from integration import outbox, relay
from integration.models import Backend, OutboxEvent

from . import receiver_handlers  # noqa: F401 - registers "test.deliver"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxEvent.Status


def send(backend, url, aggregate):
    return outbox.enqueue(backend=backend, topic="test.deliver", aggregate=aggregate, payload={"url": url})


def test_a_worker_slowed_by_a_delivery_hands_the_rest_of_its_batch_back(backend, receiver, settings):
    settings.AMOERP = {**settings.AMOERP, "OUTBOX_BATCH_SECONDS": 0.5}
    slow = send(backend, f"{receiver.url}/slow/1200", "order:1")
    rest = [send(backend, f"{receiver.url}/ok", f"order:{n}") for n in (2, 3, 4)]
    batch = relay.claim("w1", 50)
    assert [e.pk for e in batch] == [slow.pk, *(e.pk for e in rest)]

    delivered = relay.deliver("w1", batch)

    assert [r.event.pk for r in delivered] == [slow.pk]
    handed_back = OutboxEvent.objects.filter(pk__in=[e.pk for e in rest])
    assert {(e.status, e.attempts, e.lease_owner) for e in handed_back} == {(Status.PENDING, 0, "")}
    assert relay.relay_once("w2") == 1  # this worker now claims one at a time: its deliveries were slow
    assert relay.relay_once("w2") + relay.relay_once("w2") == 2
    assert OutboxEvent.objects.filter(status=Status.DELIVERED).count() == 4


def test_fast_deliveries_are_still_claimed_in_batches(backend, receiver):
    for n in range(20):
        send(backend, f"{receiver.url}/ok", f"order:{n}")
    assert relay.relay_once("w1") == 20


def test_a_backlog_of_one_side_does_not_hold_the_other_sides_events(backend, receiver):
    """Hundreds of deal updates queue behind amoCRM's rate limit; a manager's invoice for the ERP, asked for
    after them, is among the next events a worker takes, not after the whole backlog."""
    other = Backend.objects.create(name="crm", kind=Backend.Kind.AMOCRM, base_url="https://crm.example.test/",
                                   settings={"allowed_hosts": [".127.0.0.1"]})
    backlog = [outbox.enqueue(backend=other, topic="test.deliver", aggregate=f"order:{n}",
                              payload={"url": f"{receiver.url}/ok"}) for n in range(30)]
    invoice = send(backend, f"{receiver.url}/ok", "order:99")
    batch = relay.claim("w1", 10)
    assert len(batch) == 10 and invoice.pk in [e.pk for e in batch[:2]]
    assert [e.pk for e in batch if e.pk != invoice.pk] == [e.pk for e in backlog[:9]]  # each side in its order


def test_a_worker_taking_one_event_at_a_time_alternates_the_sides(backend, receiver):
    """Slow deliveries make a worker claim one event at a time: the side that goes first must change, or the
    other side's events wait for the whole backlog again."""
    other = Backend.objects.create(name="crm", kind=Backend.Kind.AMOCRM, base_url="https://crm.example.test/",
                                   settings={"allowed_hosts": [".127.0.0.1"]})
    for n in range(5):
        outbox.enqueue(backend=other, topic="test.deliver", aggregate=f"order:{n}", payload={"url": f"{receiver.url}/ok"})
        send(backend, f"{receiver.url}/ok", f"order:{10 + n}")
    sides = [relay.claim("w1", 1)[0].backend_id for _ in range(4)]
    assert sorted(sides) == sorted([backend.pk, backend.pk, other.pk, other.pk])
