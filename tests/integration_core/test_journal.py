"""The integration journal: secrets masked, bodies truncated, correlation, survives the caller's rollback."""

import json
import time
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import JsonResponse
from django.test import RequestFactory
from django.utils import timezone

from integration import http, journal
from integration.errors import BackendPaused, PermanentError, RetryableError
from integration.models import Backend, JournalEntry
from integration.secrets import mask_secret, mask_url, redact_clipped, redact_text

pytestmark = pytest.mark.postgres


def test_mask_url_hides_query_and_path_secrets():
    url = "https://x.test/hooks/s3cr3tPath/amo?access_token=abc&page=2&client_secret=zz&refresh_token=r&password=p"
    masked = mask_url(url)
    assert "s3cr3tPath" not in masked and "abc" not in masked and "zz" not in masked
    assert "/hooks/***/amo" in masked and "page=2" in masked
    assert mask_url("https://user:pw@host.test/a") == "https://***@host.test/a"
    assert mask_secret("abcdefghyz") == "ab…yz" and mask_secret("short") == "…"


def test_redact_text_handles_json_forms_and_free_text():
    assert json.loads(redact_text('{"login": "a", "password": "p", "nested": [{"access_token": "t"}]}')) == {
        "login": "a", "password": "***", "nested": [{"access_token": "***"}],
    }
    assert redact_text("grant_type=refresh&refresh_token=RT&client_secret=CS") == "grant_type=refresh&refresh_token=***&client_secret=***"
    assert "XYZ" not in redact_text("error: token=XYZ was rejected, Authorization: Bearer abc.def")
    assert "abc.def" not in redact_text("Authorization: Bearer abc.def")


@pytest.mark.django_db
def test_outgoing_exchange_is_journaled_with_secrets_masked_and_body_truncated(backend, receiver, settings):
    settings.AMOERP = {**settings.AMOERP, "JOURNAL_BODY_LIMIT": 200}
    session = http.build_session(backend)
    big = "x" * 1000
    session.post(
        f"{receiver.url}/ok?token=QUERYTOKEN&x=1",
        json={"password": "hunter2", "note": f"uses tok-SECRET-0123456789 {big}"},
        headers={"Authorization": "Bearer BEARERTOKEN", "Idempotency-Key": "k1"},
    )
    entry = JournalEntry.objects.get()
    stored = json.dumps([entry.url, entry.request_headers, entry.request_body, entry.response_body])
    for secret in ("QUERYTOKEN", "hunter2", "BEARERTOKEN", "tok-SECRET-0123456789"):
        assert secret not in stored, secret
    assert entry.request_headers["Authorization"] == "***"
    assert entry.backend_id == backend.pk and entry.direction == "out" and entry.method == "POST"
    assert entry.status_code == 200 and entry.duration_ms >= 0
    assert "more characters truncated" in entry.request_body and len(entry.request_body) < 260
    assert json.loads(entry.response_body) == {"ok": True, "key": "k1"}


@pytest.mark.django_db
def test_network_errors_are_journaled_and_mapped(backend):
    session = http.build_session(backend, timeout=1)
    with pytest.raises(RetryableError):
        http.request(session, "POST", "http://127.0.0.1:9/refused?access_token=T0KEN", json={})
    entry = JournalEntry.objects.get()
    assert entry.status_code is None and "ConnectionError" in entry.error and "T0KEN" not in entry.url + entry.error


@pytest.mark.django_db
def test_check_response_maps_statuses(backend, receiver):
    session = http.build_session(backend)
    with pytest.raises(PermanentError) as refused:
        http.request(session, "POST", f"{receiver.url}/reject", json={})
    assert refused.value.status == 422
    with pytest.raises(RetryableError):
        http.request(session, "POST", f"{receiver.url}/flaky/1", json={}, headers={"Idempotency-Key": "f"})


@pytest.mark.django_db
def test_paused_backend_session_refuses(backend, receiver):
    backend.paused = True
    with pytest.raises(BackendPaused):
        http.build_session(backend).post(f"{receiver.url}/ok")
    assert not receiver.requests


@pytest.mark.django_db(transaction=True)
def test_entries_survive_the_callers_rollback(backend, receiver):
    """The exchange happened even if the business transaction fails: its entry must stay."""
    assert not journal.in_business_transaction()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert journal.in_business_transaction()
        fresh = Backend.objects.create(name="fresh", kind="amocrm", base_url="https://x.test/",
                                       settings={"allowed_hosts": [".127.0.0.1"]})
        http.build_session(fresh).post(f"{receiver.url}/ok", json={"a": 1})
        raise RuntimeError("business failure after the call")
    assert not Backend.objects.filter(name="fresh").exists()
    entry = JournalEntry.objects.get()
    assert entry.status_code == 200  # written on the side connection, committed on its own


@pytest.mark.django_db
def test_correlate_attaches_the_object(backend, receiver):
    with journal.correlate(backend):
        http.build_session(backend).post(f"{receiver.url}/ok", json={})
    entry = JournalEntry.objects.get()
    assert entry.content_type == ContentType.objects.get_for_model(Backend)
    assert entry.object_id == str(backend.pk) and entry.object_repr == str(backend)
    assert journal.journal_url_for(backend).endswith(f"content_type__id__exact={entry.content_type_id}&object_id={backend.pk}")


@pytest.mark.django_db
def test_journal_incoming_masks_the_webhook_secret(backend):
    request = RequestFactory().post(
        "/integration/amocrm/hooks/WEBHOOKSECRET/?account=1",
        data="leads[status][0][id]=5&token=FORMTOKEN",
        content_type="application/x-www-form-urlencoded",
    )
    journal.journal_incoming(request, JsonResponse({"ok": True}), backend)
    entry = JournalEntry.objects.get()
    assert entry.direction == "in" and entry.status_code == 200
    assert "WEBHOOKSECRET" not in entry.url and "/hooks/***/" in entry.url
    assert "FORMTOKEN" not in entry.request_body and "leads" in entry.request_body


@pytest.mark.django_db
def test_purge_removes_entries_older_than_retention(backend):
    old = JournalEntry.objects.create(direction="out", method="GET", url="u", created_at=timezone.now() - timedelta(days=40))
    recent = JournalEntry.objects.create(direction="out", method="GET", url="u")
    assert journal.purge_journal(retention_days=30) == 1
    assert list(JournalEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not JournalEntry.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_a_failing_journal_write_does_not_break_the_callers_transaction(backend, caplog):
    bad = journal.Exchange("out", "GET", "https://x.test/", status_code=-1)  # violates a CHECK constraint
    journal.write(bad, backend)  # on the caller's connection (only the test's own transaction is open)
    assert Backend.objects.filter(pk=backend.pk).exists()  # the transaction is still usable
    with transaction.atomic():
        journal.write(bad, backend)  # on the side connection
        assert Backend.objects.filter(pk=backend.pk).exists()
    assert not JournalEntry.objects.exists()
    assert "could not write an entry" in caplog.text


def test_webhook_secrets_are_masked_after_the_source_and_fixed_routes_stay_readable():
    assert mask_url("https://erp.test/hooks/moysklad/abc123def456/?x=1") == "https://erp.test/hooks/moysklad/***/?x=1"
    assert mask_url("https://erp.test/hooks/amocrm/S3CRETamo/") == "https://erp.test/hooks/amocrm/***/"
    assert mask_url("https://erp.test/hooks/amocrm/oauth/?code=C0DE&state=s") == (
        "https://erp.test/hooks/amocrm/oauth/?code=***&state=s"
    )


def test_truncated_bodies_are_redacted_even_when_the_secret_is_cut_at_the_boundary():
    known = ["KNOWNSECRETVALUE42"]
    rows = ",".join(f'{{"id": {i}, "barcode": "46{i:011d}", "code": "c{i}"}}' for i in range(2000))
    for body, leaked in (
        ('{"rows": [' + rows + '], "access_token": "ABCDEFGHIJKLMNOP"}', "ABCDEFGHIJKLMNOP"),
        ('{"note": "x", "password": "PASSWORDVALUE123", "rows": [' + rows + "]}", "PASSWORDVALUE123"),
        ("grant_type=refresh&refresh_token=REFRESHTOKENVALUE&" + "x=1&" * 5000, "REFRESHTOKENVALUE"),
        ("Authorization: Bearer BEARERVALUE.1234567 " + "y" * 100000, "BEARERVALUE.1234567"),
        ('{"note": "forwarded KNOWNSECRETVALUE42", "rows": [' + rows + "]}", "KNOWNSECRETVALUE42"),
    ):
        secret_at = body.index(leaked)
        for cut in range(secret_at - 3, secret_at + len(leaked) + 2):  # every cut through the secret
            stored = redact_clipped(body, cut, known)
            assert "more characters truncated" in stored
            head = stored.split("… [")[0]
            exposed = max((n for n in range(len(leaked) + 1) if leaked[:n] in head), default=0)
            assert exposed <= 3, (cut, stored[-60:])
    assert '"barcode": "46' in redact_clipped('{"rows": [' + rows + "]}", 8192)


def test_journaling_a_megabyte_page_is_cheap():
    rows = ",".join(f'{{"id": "{i}", "name": "Товар {i}", "salePrices": [{{"value": {i}00}}]}}' for i in range(12000))
    body = ('{"meta": {"size": 12000}, "rows": [' + rows + "]}").encode()
    assert len(body) > 700_000
    started = time.perf_counter()
    for _ in range(10):
        entry = journal.build_entry(journal.Exchange("out", "GET", "https://x.test/p", response_body=body), None, None)
    assert (time.perf_counter() - started) / 10 < 0.02
    assert "more characters truncated" in entry.response_body and len(entry.response_body) < 8300
