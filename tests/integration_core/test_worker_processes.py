"""The queue as real OS processes: a message that kills its worker (SIGKILL) dies after its attempt limit instead
of looping; a handler running past its lease is never delivered twice; an idle worker picks up an event within 1 s."""

import json
import signal
import time

import pytest
from django.db import transaction

from integration import inbox, outbox
from integration.models import InboxMessage, OutboxEvent

from .conftest import child_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxEvent.Status
Inbox = InboxMessage.Status


def wait_until(predicate, timeout=30.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def start(children, *args):
    proc = children.manage(*args)
    assert "running" in proc.stdout.readline()  # Django is up, the loop starts
    return proc


def start_relay(children, name, *args):
    return start(children, "outbox", "relay", "--worker", name, *args)


def start_worker(children, name, *args):
    return start(children, "queue_worker", "--worker", name, *args)


@pytest.fixture
def limits(settings):
    settings.AMOERP = {**settings.AMOERP, "OUTBOX_MAX_ATTEMPTS": 3, "INBOX_MAX_ATTEMPTS": 3,
                       "OUTBOX_BACKOFF_BASE": 0.05, "OUTBOX_BACKOFF_CAP": 1.0}
    return settings


def restart_until_it_survives(children, start_one, settled, restarts=6):
    """Start a worker again each time it dies (a supervisor's job) until it stays up and `settled()` holds;
    returns how many times it was killed."""
    kills = 0
    for n in range(restarts):
        proc = start_one(children, f"w{n}")
        assert wait_until(lambda: proc.poll() is not None or settled(), timeout=20)  # noqa: B023
        if proc.poll() is None:
            return kills
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
        kills += 1
    return kills


def test_an_event_that_kills_its_worker_is_dead_after_the_attempt_limit(backend, receiver, children, limits,
                                                                         tmp_path):
    marker = tmp_path / "poison"
    marker.touch()
    poison = outbox.enqueue(backend=backend, topic="test.poison", aggregate="order:1",
                            payload={"url": f"{receiver.url}/ok", "kill_while": str(marker)})
    follower = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="order:1",
                              payload={"url": f"{receiver.url}/ok", "seq": 1})
    bystander = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="order:2",
                               payload={"url": f"{receiver.url}/ok"})
    assert poison.max_attempts == 3

    def settled():
        states = dict(OutboxEvent.objects.values_list("pk", "status"))
        return states[poison.pk] == Status.DEAD and states[bystander.pk] == Status.DELIVERED

    kills = restart_until_it_survives(
        children, lambda group, name: start_relay(group, name, "--lease", "1", "--idle", "0.05"), settled)
    assert kills == 3  # one per attempt, then dead: not retried forever
    poison.refresh_from_db()
    assert poison.status == Status.DEAD and poison.attempts == 3
    assert "lease" in poison.last_error and "limit" in poison.last_error
    assert list(poison.attempt_log.order_by("number").values_list("number", "outcome")) == [
        (1, "lease_expired"), (2, "lease_expired"), (3, "lease_expired")]
    # The bystander shared the poison's first batch (one attempt lost), then went alone and was delivered.
    assert OutboxEvent.objects.get(pk=bystander.pk).attempts == 2
    # The order's later event waits behind the dead one; nothing of that order reached the receiver.
    assert OutboxEvent.objects.get(pk=follower.pk).status == Status.PENDING
    assert list(receiver.effects) == [bystander.idempotency_key]

    marker.unlink()  # the cause is fixed; staff replay the dead event
    assert outbox.replay([poison]) == 1
    assert wait_until(lambda: OutboxEvent.objects.get(pk=follower.pk).status == Status.DELIVERED, timeout=20)
    assert list(receiver.effects) == [bystander.idempotency_key, poison.idempotency_key,
                                      follower.idempotency_key]


def test_a_handler_running_past_its_lease_is_delivered_once(backend, receiver, children):
    event = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="order:1",
                           payload={"url": f"{receiver.url}/slow/3500"})  # 3.5 leases
    start_relay(children, "A", "--lease", "1", "--idle", "0.05")
    start_relay(children, "B", "--lease", "1", "--idle", "0.05")
    assert wait_until(lambda: OutboxEvent.objects.get(pk=event.pk).status == Status.DELIVERED, timeout=30)
    time.sleep(1.5)  # a second delivery, had one started, would have arrived by now
    assert receiver.per_key[event.idempotency_key] == 1
    attempts = list(OutboxEvent.objects.get(pk=event.pk).attempt_log.values_list("outcome", flat=True))
    assert attempts == ["delivered"]


def store(backend, data: dict) -> InboxMessage:
    message, created = inbox.store_webhook(source="test.receiver", backend=backend, message_id=None,
                                           body=json.dumps(data).encode(), content_type="application/json",
                                           headers={})
    assert created
    return message


def test_a_webhook_that_kills_its_worker_is_rejected_after_the_attempt_limit(backend, receiver, children, limits,
                                                                              tmp_path):
    marker = tmp_path / "poison"
    marker.touch()
    poison = store(backend, {"url": f"{receiver.url}/ok", "kill_while": str(marker)})
    bystander = store(backend, {"url": f"{receiver.url}/ok", "n": 2})
    assert poison.max_attempts == 3

    def settled():
        states = dict(InboxMessage.objects.values_list("pk", "status"))
        return states[poison.pk] == Inbox.REJECTED and states[bystander.pk] == Inbox.PROCESSED

    kills = restart_until_it_survives(
        children, lambda group, name: start_worker(group, name, "--lease", "1", "--poll", "0.05"), settled)
    assert kills == 3
    poison.refresh_from_db()
    assert poison.status == Inbox.REJECTED and poison.attempts == 3
    assert "lease" in poison.error and "limit" in poison.error
    assert list(receiver.effects) == [f"inbox-{bystander.pk}"]

    marker.unlink()
    assert inbox.replay([poison]) == 1
    assert wait_until(lambda: InboxMessage.objects.get(pk=poison.pk).status == Inbox.PROCESSED, timeout=20)
    assert InboxMessage.objects.get(pk=poison.pk).max_attempts == 3 + 3  # a fresh budget on top


def test_a_webhook_processed_past_its_lease_is_processed_once(backend, receiver, children):
    message = store(backend, {"url": f"{receiver.url}/slow/3500"})
    start_worker(children, "A", "--lease", "1", "--poll", "0.05")
    start_worker(children, "B", "--lease", "1", "--poll", "0.05")
    assert wait_until(lambda: InboxMessage.objects.get(pk=message.pk).status == Inbox.PROCESSED, timeout=30)
    time.sleep(1.5)
    assert receiver.per_key[f"inbox-{message.pk}"] == 1
    assert InboxMessage.objects.get(pk=message.pk).attempts == 1


def latency(receiver, key: str, committed_at: float) -> float:
    assert wait_until(lambda: key in receiver.effects, timeout=10, step=0.005)
    arrived = next(r["at"] for r in receiver.requests if r["key"] == key)
    return arrived - committed_at


@pytest.mark.parametrize("poll", ["60", "0.5"])  # woken by NOTIFY alone; by NOTIFY or the default poll
def test_an_idle_worker_delivers_within_a_second(backend, receiver, children, poll):
    start_worker(children, "idle", "--poll", poll)
    seen = []
    for n in range(5):
        time.sleep(1.3 + n * 0.1)  # idle, at different phases of its poll
        with transaction.atomic():
            event = outbox.enqueue(backend=backend, topic="test.deliver", aggregate=f"order:{n}",
                                   payload={"url": f"{receiver.url}/ok"})
        committed = time.monotonic()
        seen.append(latency(receiver, event.idempotency_key, committed))
        message = store(backend, {"url": f"{receiver.url}/ok", "n": n})
        committed = time.monotonic()
        seen.append(latency(receiver, f"inbox-{message.pk}", committed))
    assert max(seen) < 1.0, seen


def test_the_worker_stops_cleanly_on_sigterm(backend, children):
    proc = start_worker(children, "w")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert "stopped" in proc.stdout.read()


def test_the_worker_polls_without_notify(backend, receiver, children):
    """A committed event with no NOTIFY (another writer, a restore, a retry coming due) is found by the poll."""
    proc = children.manage("queue_worker", "--worker", "poller", "--poll", "0.3", env=child_env())
    assert "running" in proc.stdout.readline()
    OutboxEvent.objects.create(backend=backend, topic="test.deliver", aggregate_type="order", aggregate_id="9",
                               idempotency_key="raw-insert", payload={"url": f"{receiver.url}/ok"})
    committed = time.monotonic()
    assert latency(receiver, "raw-insert", committed) < 1.0
