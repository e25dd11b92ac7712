"""Bulk replay from the admin: more than one batch of dead letters is replayed in the background, and the
admin sends staff to its live progress page, whose JSON is read over HTTP as the bar reads it."""

from __future__ import annotations

import time

import pytest

from integration.models import Backend, OutboxEvent, Progress

pytestmark = [pytest.mark.postgres]
DEAD = 1_000


@pytest.fixture
def small_batches(settings):
    settings.AMOERP = {**settings.AMOERP, "PROGRESS_WRITE_SECONDS": 0, "REPLAY_BATCH": 100}


def _dead_letters(count: int) -> Backend:
    backend = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")
    OutboxEvent.objects.bulk_create(
        OutboxEvent(backend=backend, topic="order.push", aggregate_type="order", aggregate_id=str(n),
                    idempotency_key=f"dead-{n}", status=OutboxEvent.Status.DEAD, attempts=10, max_attempts=10)
        for n in range(count)
    )
    return backend


def _poll(http, pk: int) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = http.get(f"{http.base}/admin/staff/progress/{pk}.json?timeline=1")
        assert response.status_code == 200, response.text[:300]
        seen.append(response.json())
        if seen[-1]["status"] != "running":
            break
        time.sleep(0.05)
    return seen


@pytest.mark.django_db(transaction=True)
def test_replaying_all_dead_letters_shows_live_progress_to_the_total(client, superuser, http, small_batches):
    _dead_letters(DEAD)
    client.force_login(superuser)
    response = client.post("/admin/integration/outboxevent/?status__exact=dead",
                           {"action": "replay_selected", "select_across": "1", "index": "0",
                            "_selected_action": [str(OutboxEvent.objects.first().pk)]})
    record = Progress.objects.get(operation=Progress.Operation.REPLAY)
    assert response.status_code == 302 and response["Location"] == f"/admin/staff/progress/{record.pk}/"

    seen = _poll(http, record.pk)
    last = seen[-1]
    assert (last["status"], last["done"], last["total"], last["percent"]) == ("succeeded", DEAD, DEAD, 100.0)
    assert last["step"] == f"queued again: {DEAD}, left as they were: 0"
    done = [point["done"] for point in last["timeline"]]
    assert done == sorted(done) and done[-1] == DEAD
    assert len(set(done)) >= DEAD // 100, f"one sample a batch at least: {done}"
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count() == DEAD

    page = http.get(f"{http.base}/admin/staff/progress/{record.pk}/").text
    assert "bulk replay of 1000 outbox events" in page and 'id="progress-timeline"' in page


@pytest.mark.django_db(transaction=True)
def test_a_small_selection_is_replayed_at_once_as_before(client, superuser, small_batches):
    _dead_letters(3)
    client.force_login(superuser)
    ids = [str(pk) for pk in OutboxEvent.objects.values_list("pk", flat=True)]
    response = client.post("/admin/integration/outboxevent/", {"action": "replay_selected", "index": "0",
                                                               "_selected_action": ids}, follow=True)
    assert "3 events queued again." in response.content.decode()
    assert not Progress.objects.exists()
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count() == 3
