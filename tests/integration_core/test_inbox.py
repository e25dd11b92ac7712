"""Inbox: stored first and deduplicated, processed once by workers, malformed bodies rejected."""

import json
import threading

import pytest
from django.db import connection

from integration import inbox
from integration.errors import RetryableError
from integration.models import InboxMessage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

processed: list[dict] = []


@inbox.handler("test.hooks")
def handle(message):
    data = json.loads(message.body_text())  # raises on a malformed body
    if "lead_id" not in data:
        raise ValueError("lead_id: missing in the webhook body")
    processed.append(data)


@inbox.handler("test.flaky")
def flaky(message):
    raise RetryableError("amoCRM is down", retry_after=30)


@pytest.fixture(autouse=True)
def clean():
    processed.clear()


def store(body: bytes, message_id=None, source="test.hooks", backend=None):
    return inbox.store_webhook(
        source=source, backend=backend, message_id=message_id, body=body, content_type="application/json",
        headers={"X-Auth-Token": "secret-token", "User-Agent": "amoCRM"},
    )


def test_same_webhook_twice_is_stored_and_processed_once(backend):
    first, created = store(b'{"lead_id": 5}')
    again, created_again = store(b'{"lead_id": 5}')
    assert created and not created_again and again.pk == first.pk
    by_id, _ = store(b'{"lead_id": 6, "at": 1}', message_id="m-1")
    same_id, created_by_id = store(b'{"lead_id": 6, "at": 2}', message_id="m-1")  # retried with another body
    assert not created_by_id and same_id.pk == by_id.pk
    assert InboxMessage.objects.count() == 2
    assert InboxMessage.objects.get(pk=first.pk).duplicates == 1
    assert first.headers["X-Auth-Token"] == "***"
    assert inbox.process_inbox("w") == {"processed": 2}
    assert inbox.process_inbox("w") == {}
    assert sorted(p["lead_id"] for p in processed) == [5, 6]


def test_malformed_body_is_rejected_with_a_reason_and_the_worker_goes_on():
    bad, _ = store(b"{not json")
    missing, _ = store(b'{"status": 1}')
    good, _ = store(b'{"lead_id": 7}')
    assert inbox.process_inbox("w") == {"rejected": 2, "processed": 1}
    bad.refresh_from_db()
    missing.refresh_from_db()
    assert bad.status == "rejected" and bad.error.startswith("JSONDecodeError:")
    assert bytes(bad.body) == b"{not json"  # kept as received
    assert missing.status == "rejected" and "lead_id: missing" in missing.error
    assert [p["lead_id"] for p in processed] == [7]


def test_retryable_failure_is_retried_later_and_replay_reprocesses():
    message, _ = store(b"{}", source="test.flaky")
    assert inbox.process_inbox("w") == {"failed": 1}
    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at > message.received_at
    assert inbox.process_inbox("w") == {}  # not due yet
    done, _ = store(b'{"lead_id": 8}')
    inbox.process_inbox("w")
    assert inbox.replay([done]) == 1
    assert inbox.process_inbox("w") == {"processed": 1}
    assert [p["lead_id"] for p in processed] == [8, 8]


def test_paused_backend_holds_its_messages(backend):
    backend.paused = True
    backend.save()
    store(b'{"lead_id": 9}', backend=backend)
    assert inbox.process_inbox("w") == {}
    backend.paused = False
    backend.save()
    assert inbox.process_inbox("w") == {"processed": 1}


def test_concurrent_workers_process_each_message_once():
    for n in range(40):
        store(json.dumps({"lead_id": n}).encode())
    results = []

    def work(name):
        try:
            while counts := inbox.process_inbox(name, limit=5):
                results.append(counts)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p["lead_id"] for p in processed) == list(range(40))
    assert InboxMessage.objects.filter(status="processed").count() == 40


def test_accept_webhook_stores_journals_and_answers_at_once(backend):
    from django.test import RequestFactory

    from integration.models import JournalEntry

    def post():
        request = RequestFactory().post("/hooks/SECRETPATH/", data=b'{"lead_id": 11}', content_type="application/json")
        return inbox.accept_webhook(request, source="test.hooks", backend=backend)

    first, second = post(), post()
    assert (first.status_code, second.status_code) == (200, 200)
    assert json.loads(first.content)["duplicate"] is False and json.loads(second.content)["duplicate"] is True
    assert InboxMessage.objects.count() == 1 and not processed  # nothing processed in the request
    entries = list(JournalEntry.objects.values_list("direction", "status_code", "url"))
    assert entries == [("in", 200, "http://testserver/hooks/***/")] * 2
    assert inbox.process_inbox("w") == {"processed": 1}


@inbox.handler("test.hiccup")
def hiccup(message):
    raise RuntimeError("server closed the connection unexpectedly")


def test_an_unexpected_failure_is_retried_then_rejected_at_the_attempt_limit(settings):
    from django.utils import timezone

    settings.AMOERP = {**settings.AMOERP, "INBOX_MAX_ATTEMPTS": 2}
    message, _ = store(b"{}", source="test.hiccup")
    assert message.max_attempts == 2
    assert inbox.process_inbox("w") == {"failed": 1}  # not invalid input: it may pass next time
    message.refresh_from_db()
    assert message.error.startswith("RuntimeError:") and message.next_attempt_at > timezone.now()
    InboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert inbox.process_inbox("w") == {"rejected": 1}
    message.refresh_from_db()
    assert message.error.startswith("gave up after 2 attempts: RuntimeError:")
    assert inbox.replay([message]) == 1
    message.refresh_from_db()
    assert (message.status, message.max_attempts) == ("received", 4)  # a fresh budget on top of the 2 made
