"""Rate limits over real HTTP on a live server: the widget API and both webhook endpoints, per account and per IP;
over the limit 429 problem+json with Retry-After, and nothing is stored or done."""

import pytest
import requests
from django.test import override_settings

from integration.amocrm.widget_token import mint_widget_token
from integration.models import Backend, InboxMessage
from integration.widget.models import UsedToken

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

OFF = {"WIDGET_ACCOUNT": "", "WIDGET_IP": "", "WEBHOOK_ACCOUNT": "", "WEBHOOK_IP": "", "TRUSTED_PROXIES": 0}
PRODUCTS = "/api/widget/v1/products"


def limits(**rates):
    return override_settings(AMOERP_THROTTLE={**OFF, **rates})


def assert_429(response: requests.Response, max_wait: int = 3600) -> None:
    assert response.status_code == 429, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 429 and body["type"] == "urn:amoerp:problem:throttled" and body["title"]
    assert 1 <= int(response.headers["Retry-After"]) <= max_wait


def widget_get(http_server, backend, user_id=501, **headers) -> requests.Response:
    token = mint_widget_token(backend, user_id)
    return requests.get(http_server + PRODUCTS, headers={"X-Auth-Token": token, **headers}, timeout=30)


def test_widget_per_ip_even_without_a_valid_token(http_server, amo):
    with limits(WIDGET_IP="3/hour"):
        assert [widget_get(http_server, amo).status_code for _ in range(3)] == [200, 200, 200]
        assert_429(widget_get(http_server, amo))
        bad = requests.get(http_server + PRODUCTS, headers={"X-Auth-Token": "not-a-token"}, timeout=30)
        assert_429(bad)
        # X-Forwarded-For is not trusted without a configured proxy: a forged one does not reset the count.
        assert_429(widget_get(http_server, amo, **{"X-Forwarded-For": "203.0.113.9"}))
    assert UsedToken.objects.count() == 3  # the throttled tokens were not even looked at


def test_widget_behind_a_configured_proxy_counts_the_forwarded_address(http_server, amo):
    with limits(WIDGET_IP="2/hour", TRUSTED_PROXIES=1):
        for address in ("203.0.113.1", "203.0.113.2"):
            calls = [widget_get(http_server, amo, **{"X-Forwarded-For": f"10.9.9.9, {address}"}) for _ in range(3)]
            assert [call.status_code for call in calls[:2]] == [200, 200]
            assert_429(calls[2])


def test_widget_per_account(http_server, amo):
    with limits(WIDGET_ACCOUNT="2/hour"):
        assert [widget_get(http_server, amo, user).status_code for user in (501, 502)] == [200, 200]
        assert_429(widget_get(http_server, amo, 503))  # another manager of the same account
    with limits(WIDGET_ACCOUNT=""):
        assert widget_get(http_server, amo).status_code == 200


# --- webhooks ---------------------------------------------------------------------------------------------------

def with_webhook_secret(backend: Backend, secret: str) -> Backend:
    backend.settings = {**(backend.settings or {}), "webhook_secret": secret}
    backend.save()
    return backend


@pytest.fixture
def moysklad(db):
    backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/",
                                     credentials={"token": "t"})
    return with_webhook_secret(backend, "ms-hook-secret")


def moysklad_hook(http_server, secret: str, request_id: str) -> requests.Response:
    return requests.post(f"{http_server}/hooks/moysklad/{secret}/?requestId={request_id}", data=b'{"events": []}',
                         headers={"Content-Type": "application/json"}, timeout=30)


def amocrm_hook(http_server, secret: str, lead_id: int) -> requests.Response:
    body = f"leads[update][0][id]={lead_id}&leads[update][0][last_modified]=1700000000&account[id]=30441694"
    return requests.post(f"{http_server}/hooks/amocrm/{secret}/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)


def test_moysklad_webhooks_per_backend_then_nothing_is_stored(http_server, moysklad):
    with limits(WEBHOOK_ACCOUNT="2/hour"):
        assert [moysklad_hook(http_server, "ms-hook-secret", f"r{n}").status_code for n in range(2)] == [200, 200]
        assert_429(moysklad_hook(http_server, "ms-hook-secret", "r2"))
    assert InboxMessage.objects.count() == 2


def test_amocrm_webhooks_per_backend_then_nothing_is_stored(http_server, amo):
    with_webhook_secret(amo, "amo-hook-secret")
    with limits(WEBHOOK_ACCOUNT="2/hour"):
        assert [amocrm_hook(http_server, "amo-hook-secret", lead).status_code for lead in (1, 2)] == [200, 200]
        assert_429(amocrm_hook(http_server, "amo-hook-secret", 3))
    assert InboxMessage.objects.count() == 2


@pytest.mark.parametrize("path", ["/hooks/amocrm/{}/", "/hooks/moysklad/{}/"])
def test_webhooks_per_ip_stop_a_flood_of_guessed_secrets(http_server, moysklad, amo, path):
    with limits(WEBHOOK_IP="3/hour"):
        guesses = [requests.post(http_server + path.format(f"guess-{n}"), data=b"{}", timeout=30) for n in range(4)]
        assert [response.status_code for response in guesses[:3]] == [404, 404, 404]
        assert_429(guesses[3])
        right = "amo-hook-secret" if "amocrm" in path else "ms-hook-secret"
        with_webhook_secret(amo, "amo-hook-secret")
        assert_429(requests.post(http_server + path.format(right), data=b"{}", timeout=30))
    assert not InboxMessage.objects.exists()


def test_the_production_defaults_are_limits():
    """The shipped defaults (config.settings, before the test overrides) all parse to a limit."""
    import importlib

    from integration.throttling import parse_rate

    defaults = importlib.import_module("config.settings").AMOERP_THROTTLE
    rates = {name: parse_rate(defaults[name]) for name in ("WIDGET_ACCOUNT", "WIDGET_IP", "WEBHOOK_ACCOUNT",
                                                           "WEBHOOK_IP")}
    assert all(rate is not None and rate.limit > 0 and rate.period == 60 for rate in rates.values()), rates
    assert defaults["TRUSTED_PROXIES"] == 0
    with pytest.raises(ValueError):
        parse_rate("ten/min")
