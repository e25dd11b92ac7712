"""The amoCRM webhook endpoint over real HTTP with bodies, headers and URLs amoCRM would never send: every one is
answered below 500 (amoCRM disables a hook that keeps failing), malformed ones with 400 and the reason."""

import pytest

from integration.models import Backend, InboxMessage, JournalEntry
from tests.integration_core.rawhttp import send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "amo-hook-secret-42"
PATH = f"/hooks/amocrm/{SECRET}/"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GOOD = b"leads[update][0][id]=501&leads[update][0][last_modified]=1764500000&account[id]=1"


@pytest.fixture
def amo(db):
    return Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url="https://demo.amocrm.ru",
                                  settings={"webhook_secret": SECRET})


MALFORMED = {
    "not utf-8": (b"\xff\xfe\x00\x01garbage", FORM),
    "nested 10,000 brackets deep": (b"leads[add][0]" + b"[x]" * 10_000 + b"=1", FORM),
    "a NUL byte": (b"leads[add][0][id]=1&leads[add][0][name]=a\x00b", FORM),
    "a percent-encoded NUL": (b"leads[add][0][id]=1&leads[add][0][last_modified]=%00", FORM),
    "100,000 fields": (b"leads[add][]=1&" * 100_000, FORM),
    "JSON instead of a form": (b'{"leads": {"add": [{"id": 1}]}}', {"Content-Type": "application/json"}),
    "an empty body": (b"", FORM),
    "a key clashing with a scalar": (b"leads=1&leads[add][0][id]=2", FORM),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_bodies_get_400_with_the_reason_and_nothing_is_stored(amo, live_server, case):
    body, headers = MALFORMED[case]
    answer = send(live_server.url, PATH, body, headers=headers)
    assert answer.status == 400, (answer.status, answer.body[:300])
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == 400 and problem["errors"]["body"], problem
    assert not InboxMessage.objects.exists()
    assert JournalEntry.objects.filter(backend=amo, status_code=400).exists()  # visible to staff
    assert send(live_server.url, PATH, GOOD, headers=FORM).status == 200  # the endpoint still works
    assert InboxMessage.objects.count() == 1


def test_a_body_over_the_size_limit_gets_400(amo, live_server, settings):
    answer = send(live_server.url, PATH, b"leads[add][0][id]=1&x=" + b"a" * 3_000_000, headers=FORM)
    assert answer.status == 400 and "body" in answer.json()["errors"]
    assert not InboxMessage.objects.exists()


@pytest.mark.parametrize("raw_id", [b"%C2%B2", b"9" * 5000, b"-1", b"1e3"])
def test_ids_that_are_not_amocrm_ids_are_stored_without_an_entity(amo, live_server, raw_id):
    body = b"leads[update][0][id]=" + raw_id + b"&leads[update][0][last_modified]=1764500000"
    answer = send(live_server.url, PATH, body, headers=FORM)
    assert answer.status == 200, (answer.status, answer.body[:300])
    assert InboxMessage.objects.get().status == InboxMessage.Status.RECEIVED


@pytest.mark.parametrize("headers", [
    {"Content-Type": "multipart/form-data; boundary="},
    {"Content-Type": "multipart/form-data"},
    {"Content-Type": "text/plain; charset=koi8-r"},
    {"Content-Type": b"application/x-www-form-urlencoded\x00; charset=\xff"},
    {**FORM, "X-Forwarded-For": b"1.2.3.4\x00", "X-Note": b"\xff\xfe"},
    {**FORM, "Content-Encoding": "gzip"},
])
def test_odd_headers_are_not_an_error(amo, live_server, headers):
    answer = send(live_server.url, PATH, GOOD, headers=headers)
    assert answer.status in (200, 400), (answer.status, answer.body[:300])
    assert JournalEntry.objects.filter(backend=amo, status_code=answer.status).exists()  # journaled all the same
    if answer.status == 200:
        message = InboxMessage.objects.get()
        assert "\x00" not in message.content_type and "\x00" not in str(message.headers)


@pytest.mark.parametrize("target", [
    PATH + "?x=%00%ff&y=%zz",
    PATH + "?" + "a=1&" * 5000,
    PATH + "?" + "b" * 20_000,
])
def test_odd_query_strings_are_ignored(amo, live_server, target):
    answer = send(live_server.url, target, GOOD, headers=FORM)
    assert answer.status == 200, (answer.status, answer.body[:300])
    assert InboxMessage.objects.count() == 1


@pytest.mark.parametrize("secret", ["%D0%B6%D0%B6", "%00", "%ff", "a" * 3000])
def test_odd_secrets_are_404(amo, live_server, secret):
    answer = send(live_server.url, f"/hooks/amocrm/{secret}/", GOOD, headers=FORM)
    assert answer.status == 404
    assert not InboxMessage.objects.exists()


def test_other_methods_are_405(amo, live_server):
    assert send(live_server.url, PATH, method="GET").status == 405
    assert send(live_server.url, PATH, GOOD, method="PUT", headers=FORM).status == 405
