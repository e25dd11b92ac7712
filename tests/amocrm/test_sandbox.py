"""The amoCRM emulator itself: documented shapes and limits, webhook delivery and its retry schedule."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests

from tests.amocrm.conftest import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, as_manager

pytestmark = pytest.mark.sandbox


@pytest.fixture
def api(sandbox):
    token = sandbox.control("amocrm/long_lived_token", {"user_id": 1002})["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def call(method, path, **kwargs):
        return session.request(method, sandbox.url + path, **kwargs)

    yield call
    session.close()


class Receiver:
    """A webhook destination answering with the statuses it is given (then 200)."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.bodies = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - stdlib name
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_auth_shapes(sandbox, api):
    assert requests.get(sandbox.url + "/api/v4/account").json() == {
        "title": "Unauthorized", "type": "https://httpstatus.es/401", "status": 401,
        "detail": "Invalid user name or password"}
    response = api("GET", "/api/v4/account", params={"with": "drive_url"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/hal+json")
    assert response.headers["X-Request-Id"]
    assert response.json()["drive_url"] == sandbox.url + "/drive"


def test_oauth_codes_expire_and_refresh_tokens_are_single_use(sandbox):
    def token(payload):
        return requests.post(sandbox.url + "/oauth2/access_token", json={
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI, **payload})

    code = sandbox.control("amocrm/oauth/code", {})["code"]
    sandbox.control("amocrm/clock", {"advance": 20 * 60 + 1})
    expired = token({"grant_type": "authorization_code", "code": code})
    assert expired.status_code == 400 and expired.json()["hint"] == "Authorization code has expired"
    pair = token({"grant_type": "authorization_code", "code": sandbox.control("amocrm/oauth/code", {})["code"]}).json()
    assert pair["expires_in"] == 86400 and jwt.decode(pair["access_token"], options={"verify_signature": False})[
        "account_id"] == ACCOUNT_ID
    assert token({"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}).status_code == 200
    reused = token({"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["hint"] == "Token has been revoked"
    assert reused.json()["type"] == "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
    assert token({"grant_type": "refresh_token", "refresh_token": "x", "redirect_uri": "https://else"}).status_code == 400


def test_rate_limit_429_then_403_block(sandbox, api):
    sandbox.control("amocrm/settings", {"block_after": 5, "block_window": 10})
    statuses = [api("GET", "/api/v4/users").status_code for _ in range(14)]
    assert statuses[:7] == [200] * 7 and 429 in statuses and statuses[-1] == 403
    body = api("GET", "/api/v4/users")
    assert body.status_code == 403 and "nginx" in body.text


def test_limits_204_and_422(sandbox, api):
    assert api("GET", "/api/v4/leads").status_code == 204
    assert api("GET", "/api/v4/leads/123").status_code == 204
    too_many = api("POST", "/api/v4/leads", json=[{"name": str(i)} for i in range(251)])
    assert too_many.status_code == 422 and too_many.json()["detail"] == "Limit 250 per page"
    assert api("GET", "/api/v4/leads", params={"limit": 251}).status_code == 422
    empty = api("POST", "/api/v4/leads", json=[])
    assert empty.json()["detail"] == "Request data can not be empty"


def test_hal_paging_and_request_id_echo(sandbox, api):
    created = api("POST", "/api/v4/leads", json=[{"name": f"L{i}", "request_id": f"r{i}"} for i in range(5)]).json()
    assert [x["request_id"] for x in created["_embedded"]["leads"]] == [f"r{i}" for i in range(5)]
    page = api("GET", "/api/v4/leads", params={"limit": 2, "page": 2}).json()
    assert page["_page"] == 2 and [x["name"] for x in page["_embedded"]["leads"]] == ["L2", "L3"]
    assert requests.get(page["_links"]["next"]["href"]).status_code == 401  # links are plain URLs; auth still needed
    tail = api("GET", "/api/v4/leads", params={"limit": 2, "page": 3}).json()
    assert "next" not in tail["_links"] and len(tail["_embedded"]["leads"]) == 1
    ids = [x["id"] for x in created["_embedded"]["leads"]][:2]
    filtered = api("GET", "/api/v4/leads", params=[("filter[id][]", ids[0]), ("filter[id][]", ids[1])]).json()
    assert sorted(x["id"] for x in filtered["_embedded"]["leads"]) == sorted(ids)


def test_custom_fields_and_validation_errors(sandbox, api):
    made = api("POST", "/api/v4/companies/custom_fields", json=[{"name": "ИНН", "type": "text", "code": "INN"}])
    assert made.status_code == 201
    bad = api("POST", "/api/v4/companies", json=[
        {"name": "A", "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+7 1", "enum_code": "XX"}]}]},
        {"name": "B", "request_id": "b", "custom_fields_values": [{"field_id": 1, "values": [{"value": "x"}]}]}])
    assert bad.status_code == 400
    errors = {e["request_id"]: e["errors"][0] for e in bad.json()["validation-errors"]}
    assert errors["0"]["path"] == "custom_fields_values.0.values.0.enum_code"
    assert errors["b"] == {"code": "NotSupportedChoice", "path": "custom_fields_values.0.field_id",
                           "detail": "The value you selected is not a valid choice."}
    assert api("GET", "/api/v4/companies").status_code == 204  # nothing of the batch was applied


def test_webhook_registration_upserts_by_destination(sandbox, api, receiver):
    hook = receiver()
    first = api("POST", "/api/v4/webhooks", json={"destination": hook.url, "settings": ["add_lead"]})
    again = api("POST", "/api/v4/webhooks", json={"destination": hook.url, "settings": ["add_lead", "status_lead"]})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    listed = api("GET", "/api/v4/webhooks").json()["_embedded"]["webhooks"]
    assert [h["settings"] for h in listed] == [["add_lead", "status_lead"]]
    assert api("DELETE", "/api/v4/webhooks", json={"destination": hook.url}).status_code == 204
    assert api("DELETE", "/api/v4/webhooks", json={"destination": hook.url}).status_code == 404


def test_our_writes_do_not_echo_but_a_managers_do(sandbox, api, receiver):
    hook = receiver()
    api("POST", "/api/v4/webhooks", json={"destination": hook.url, "settings": ["add_lead", "status_lead"]})
    api("POST", "/api/v4/leads", json=[{"name": "ours"}])  # the long-lived token is our integration's
    lead = as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "manager's"}])["_embedded"]["leads"][0]["id"]
    as_manager(sandbox, "PATCH", f"/api/v4/leads/{lead}", {"status_id": 3177730})
    sandbox.control("amocrm/webhooks/flush", {"wait_seconds": 3})
    # Two deliveries of one hook may arrive in either order (the flush and the delivery thread both send, as
    # amoCRM gives no order either): each is found by what it carries.
    [added] = [body for body in hook.bodies if "leads%5Badd%5D" in body]
    [moved] = [body for body in hook.bodies if "leads%5Bstatus%5D" in body]
    assert len(hook.bodies) == 2  # and none for our own lead
    assert f"leads%5Badd%5D%5B0%5D%5Bid%5D={lead}" in added
    assert "leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=3177729" in moved
    assert "account%5Bsubdomain%5D=demo" in moved


def test_retry_schedule_follows_the_status_codes(sandbox, api, receiver):
    # 500 → #2 (5 min), 404 → #3 (15 min), 404 → no #4 (only 499/5xx earn one): three attempts in all.
    hook = receiver([500, 404, 404])
    api("POST", "/api/v4/webhooks", json={"destination": hook.url, "settings": ["add_lead"]})
    as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "x"}])
    started = time.monotonic()
    sandbox.control("amocrm/webhooks/flush", {"wait_seconds": 5})
    [delivery] = sandbox.control("amocrm/webhooks/deliveries", method="GET")["deliveries"]
    assert [a["status"] for a in delivery["attempts"]] == [500, 404, 404] and delivery["done"]
    gaps = [b["at"] - a["at"] for a, b in zip(delivery["attempts"], delivery["attempts"][1:], strict=False)]
    assert gaps[0] >= 300 * 0.001 and gaps[1] >= 900 * 0.001  # the schedule, scaled by webhook_time_scale
    assert time.monotonic() - started < 5
    # 503 four times → five attempts, the last one succeeds.
    sandbox.control("amocrm/settings", {"webhook_time_scale": 0.0002})
    hook2 = receiver([503, 503, 503, 503])
    api("POST", "/api/v4/webhooks", json={"destination": hook2.url, "settings": ["add_lead"]})
    as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "y"}])
    sandbox.control("amocrm/webhooks/flush", {"wait_seconds": 5})
    assert len(hook2.bodies) == 5


def test_a_failing_hook_is_disabled_after_more_than_100_failures(sandbox, api, receiver):
    hook = receiver([404] * 1000)
    api("POST", "/api/v4/webhooks", json={"destination": hook.url, "settings": ["add_lead"]})

    def disabled():
        return sandbox.control("amocrm/dump?entity=webhooks", method="GET")["rows"][0]["disabled"]

    for _ in range(60):  # each delivery is tried three times (404 earns no 4th try)
        as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "z"}])
        sandbox.control("amocrm/webhooks/flush", {"ignore_schedule": True, "wait_seconds": 1})
        if disabled():
            break
    assert disabled() and 100 < len(hook.bodies) <= 103
    assert sandbox.control("stats", method="GET")["webhooks"]["disabled"] == 1
    as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "after"}])
    sandbox.control("amocrm/webhooks/flush", {"ignore_schedule": True})
    assert len(hook.bodies) <= 103  # nothing more is sent to a disabled hook


def test_widget_tokens_minted_by_the_sandbox_verify(sandbox, db):
    from integration.amocrm.widget_token import verify_widget_token
    from tests.amocrm.factories import make_amocrm_backend

    backend = make_amocrm_backend(credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                               "redirect_uri": REDIRECT_URI}, account_id=ACCOUNT_ID)
    token = sandbox.control("amocrm/widget_token", {"user_id": 1002, "is_admin": True})["token"]
    identity = verify_widget_token(token)
    assert (identity.backend, identity.user_id, identity.is_admin) == (backend, 1002, True)
