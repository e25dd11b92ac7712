"""Property-based runs (hypothesis) of both webhook parsers and endpoints: whatever the bytes, the parsers answer
with a parse or a typed refusal (never another exception), the endpoints answer 200 or 400 (never a 5xx), and a
refused request stores nothing. The bulk runs in-process (Django's test client); a smaller run goes over HTTP."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration import inbox
from integration.amocrm.webhooks import WebhookParseError, dedup_key, parse_bracket_body, webhook_events
from integration.erp.moysklad.webhooks import entity_events, parse_body
from integration.errors import PermanentError
from integration.models import Backend, InboxMessage, OutboxEvent
from tests.amocrm.conftest import amo_sandbox, sandbox  # noqa: F401 — fixtures
from tests.integration_core.rawhttp import send

AMO_SECRET, MS_SECRET = "prop-amo-secret", "prop-ms-secret"
AMO_PATH, MS_PATH = f"/hooks/amocrm/{AMO_SECRET}/", f"/hooks/moysklad/{MS_SECRET}/"
QUICK = settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
ENDPOINT = settings(QUICK, max_examples=250)
OVER_HTTP = settings(QUICK, max_examples=40)

# ---- bodies --------------------------------------------------------------------------------------------------
segment = st.one_of(st.sampled_from(["leads", "contacts", "companies", "add", "update", "status", "delete", "note",
                                     "id", "0", "1", "", "type", "company", "element_id", "last_modified",
                                     "custom_fields", "values", "999999999999", "²", "-1", "account"]),
                    st.text(max_size=6))
bracket_key = st.lists(segment, min_size=1, max_size=20).map(lambda parts: parts[0] + "".join(f"[{p}]" for p in parts[1:]))
raw_piece = st.text(alphabet="[]=&%;+ \x00abc0123456789", max_size=8)
form_pair = st.tuples(st.one_of(bracket_key, raw_piece), st.one_of(st.text(max_size=20), segment))


@st.composite
def forms(draw) -> bytes:
    pairs = draw(st.lists(form_pair, max_size=30))
    quoted = draw(st.booleans())
    body = "&".join((quote(k, safe="[]") if quoted else k) + "=" + quote(v) for k, v in pairs)
    return body.encode("utf-8", "surrogatepass") if not quoted else body.encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
ms_href = st.one_of(st.text(max_size=60), st.builds(
    "{}/api/remap/1.2/entity/{}/{}".format,
    st.sampled_from(["https://api.moysklad.ru", "http://127.0.0.1:1", "https://evil.example", ""]),
    st.sampled_from(["product", "service", "bundle", "customerorder", "demand", "paymentin", "x/../y"]),
    st.one_of(st.uuids().map(str), st.text(max_size=40), st.just("..")),
))
ms_event = st.fixed_dictionaries({"meta": st.one_of(
    st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["product", "customerorder", "PRODUCT", ""]), json_values),
                           "href": st.one_of(ms_href, json_values)}), json_values),
    "action": st.one_of(st.sampled_from(["CREATE", "UPDATE", "DELETE", "PROCESSED"]), json_values)})


@st.composite
def ms_bodies(draw) -> bytes:
    shape = draw(st.sampled_from(["events", "json", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    data = {"events": draw(st.lists(ms_event, max_size=5))} if shape == "events" else draw(json_values)
    return json.dumps(data).encode()  # NaN and Infinity included


amo_bodies = st.one_of(forms(), st.binary(max_size=300))
content_types = st.one_of(st.sampled_from([
    "application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=", "text/plain",
    "application/json; charset=koi8-r", "application/x-www-form-urlencoded; charset=nonsense", ""]),
    st.text(max_size=30).filter(lambda t: "\n" not in t and "\r" not in t))


# ---- the parsers ---------------------------------------------------------------------------------------------
@QUICK
@given(body=amo_bodies)
def test_amocrm_parser_parses_or_refuses_any_body(body):
    try:
        parsed = parse_bracket_body(body)
    except WebhookParseError:
        return
    events = webhook_events(parsed)
    assert all(e.id is None or 0 <= e.id < 10**18 for e in events)
    assert len(dedup_key(events, body)) <= 255


@QUICK
@given(body=ms_bodies())
def test_moysklad_parser_parses_or_refuses_any_body(body):
    try:
        events = parse_body(body)
    except inbox.BadWebhook as exc:
        assert exc.field in ("body", "events")
        return
    try:
        checked = entity_events(events)
    except PermanentError as exc:
        assert str(exc).startswith("events[")
        return
    assert all(len(e.entity_id) == 36 and "/" not in e.entity_id for e in checked)


# ---- the endpoints -------------------------------------------------------------------------------------------
@pytest.fixture
def hooks(db):
    Backend.objects.create(name="prop-amo", kind=Backend.Kind.AMOCRM, base_url="https://demo.amocrm.ru",
                           settings={"webhook_secret": AMO_SECRET})
    Backend.objects.create(name="prop-ms", kind=Backend.Kind.MOYSKLAD, base_url="https://ms.example/api",
                           credentials={"token": "t"}, settings={"webhook_secret": MS_SECRET})


def stored() -> tuple[int, int]:
    return InboxMessage.objects.count(), OutboxEvent.objects.count()


def check_answer(status: int, before: tuple[int, int]) -> None:
    assert status in (200, 400), status
    if status == 400:
        assert stored() == before  # refused: nothing stored, nothing queued
    else:
        assert stored()[1] == before[1]


@pytest.mark.django_db
@ENDPOINT
@given(body=amo_bodies, content_type=content_types)
def test_amocrm_endpoint_in_process(hooks, body, content_type):
    before = stored()
    check_answer(Client().generic("POST", AMO_PATH, body, content_type=content_type).status_code, before)


@pytest.mark.django_db
@ENDPOINT
@given(body=ms_bodies(), content_type=content_types, request_id=st.text(max_size=300))
def test_moysklad_endpoint_in_process(hooks, body, content_type, request_id):
    before = stored()
    answer = Client().generic("POST", MS_PATH + "?requestId=" + quote(request_id), body, content_type=content_type)
    check_answer(answer.status_code, before)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@OVER_HTTP
@given(body=st.one_of(amo_bodies, ms_bodies()), moysklad=st.booleans(), content_type=content_types)
def test_both_endpoints_over_http(hooks, live_server, body, moysklad, content_type):
    before = stored()
    answer = send(live_server.url, MS_PATH + "?requestId=r" if moysklad else AMO_PATH, body,
                  headers={"Content-Type": content_type.encode()})
    check_answer(answer.status, before)


# ---- well-formed but forged: unknown ids and another account's deal, re-read from our amoCRM account ---------
@pytest.mark.postgres
@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_a_forged_amocrm_webhook_naming_unknown_or_foreign_ids_changes_nothing(sandbox, live_server):  # noqa: F811
    from integration.bindings import bind
    from orders.models import Order
    from tests.amocrm.conftest import connect_backend

    connect_backend(sandbox, webhook_secret="forged-path")
    other = Backend.objects.create(name="other-account", kind=Backend.Kind.AMOCRM, base_url="https://other.amocrm.ru")
    foreign = Order.objects.create(lead_id=880_000_001)  # a deal of another account, bound to its backend
    bind(other, foreign, str(foreign.lead_id))
    body = (b"account[id]=1&account[subdomain]=other"
            b"&leads[update][0][id]=880000001&leads[update][0][last_modified]=1764500000"
            b"&leads[status][0][id]=999999999&leads[add][0][id]=1&leads[delete][0][id]=880000001"
            b"&contacts[update][0][id]=999999998&contacts[add][0][id]=5&contacts[add][0][type]=company")
    before = {model.__name__: list(model.objects.order_by("pk").values()) for model in (Order, OutboxEvent)}
    answer = send(live_server.url, "/hooks/amocrm/forged-path/", body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 200
    assert inbox.process_inbox("w", source="amocrm") == {InboxMessage.Status.PROCESSED: 1}
    assert {model.__name__: list(model.objects.order_by("pk").values()) for model in (Order, OutboxEvent)} == before
