"""A spent amoCRM budget must not hold a worker: in the pilot week, workers slept in amoCRM's limiter (7 requests a
second for a backlog of deal updates) while managers' invoices for the ERP waited behind them. A delivery whose
first request would wait longer than OUTBOX_BUDGET_WAIT_SECONDS goes back to the queue — nothing sent, no attempt
counted — until the budget is there, and the worker serves the other side meanwhile."""

import time

import pytest
from django.utils import timezone

from integration import outbox, relay
from integration.amocrm.client import AmoCrmClient
from integration.models import Backend, OutboxAttempt, OutboxEvent
from tests.amocrm.conftest import connect_backend

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
Status = OutboxEvent.Status


@outbox.handler("test.amocrm.account")
def read_account(event):
    return {"id": AmoCrmClient(event.backend).account()["id"]}


@outbox.handler("test.erp.invoice")
def make_invoice(event):
    return {"made": True}


def test_a_spent_amocrm_budget_defers_its_deliveries_instead_of_holding_the_worker(sandbox, settings):
    settings.AMOERP = {**settings.AMOERP, "OUTBOX_BUDGET_WAIT_SECONDS": 0.5}
    amo = connect_backend(sandbox, rate_limit=1, rate_period=2.0)  # one request in 2 s: spent after one
    erp = Backend.objects.create(name="erp", kind=Backend.Kind.MOYSKLAD, base_url="https://api.example.test/")
    deals = [outbox.enqueue(backend=amo, topic="test.amocrm.account", aggregate=f"order:{n}", payload={})
             for n in range(3)]
    invoice = outbox.enqueue(backend=erp, topic="test.erp.invoice", aggregate="order:99", payload={})

    started = time.monotonic()
    assert relay.relay_once("w1") == 4
    assert time.monotonic() - started < 1.5  # nobody slept in the limiter for 2 s

    assert OutboxEvent.objects.get(pk=invoice.pk).status == Status.DELIVERED
    states = {e.pk: e for e in OutboxEvent.objects.filter(pk__in=[d.pk for d in deals])}
    deferred = [e for e in states.values() if e.status == Status.PENDING]
    assert len(deferred) >= 2 and all(e.attempts == 0 for e in deferred)
    assert all(e.next_attempt_at > timezone.now() for e in deferred)  # due when the budget is back
    assert not OutboxAttempt.objects.filter(event_id__in=[e.pk for e in deferred]).exists()  # not attempts

    deadline = time.monotonic() + 15
    while OutboxEvent.objects.filter(pk__in=[d.pk for d in deals]).exclude(status=Status.DELIVERED).exists():
        assert time.monotonic() < deadline, list(OutboxEvent.objects.values_list("status", "last_error"))
        relay.relay_once("w1")
        time.sleep(0.1)
    assert list(OutboxAttempt.objects.filter(event_id__in=[d.pk for d in deals]).values_list("outcome", flat=True)) \
        == [OutboxAttempt.Outcome.DELIVERED] * 3  # each delivered once, no failure on the way
    assert sandbox.control("stats", method="GET").get("http_429", 0) == 0


def test_outside_the_relay_a_client_waits_for_the_budget_as_before(sandbox):
    """Syncs and webhook processing are not deferrable: their requests wait their turn."""
    amo = connect_backend(sandbox, rate_limit=1, rate_period=1.0)
    client = AmoCrmClient(amo)
    client.account()
    client = AmoCrmClient(amo)
    client.account()
    assert client.stats.waited_seconds > 0.5
