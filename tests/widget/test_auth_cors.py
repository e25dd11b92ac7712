import time

import jwt
import pytest
from rest_framework.test import APIClient

from integration.amocrm.widget_token import mint_widget_token
from integration.widget.models import UsedToken

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
URL = "/api/widget/v1/products"


def call(token):
    return APIClient().get(URL, HTTP_X_AUTH_TOKEN=token) if token else APIClient().get(URL)


def assert_401(response, reason):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and body["reason"] == reason and body["title"] and body["type"]
    assert response["WWW-Authenticate"].startswith("X-Auth-Token")


def test_valid_token_is_accepted_once(amo):
    token = mint_widget_token(amo, 501)
    assert call(token).status_code == 200
    assert UsedToken.objects.filter(user_id=501).count() == 1
    assert_401(call(token), "replayed")


@pytest.mark.parametrize(
    ("claims", "secret", "reason"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 5400, "nbf": int(time.time()) - 5400},
         None, "expired"),
        ({}, "another-secret-another-secret-0123", "bad_signature"),
        ({"aud": "https://someone-else.example.com"}, None, "wrong_audience"),
        ({"account_id": 999}, None, "unknown_account"),
    ],
)
def test_bad_tokens_are_refused(amo, claims, secret, reason):
    token = mint_widget_token(amo, 501, **claims)
    if secret:
        payload = jwt.decode(token, options={"verify_signature": False})
        token = jwt.encode(payload, secret, algorithm="HS256")
    assert_401(call(token), reason)
    assert not UsedToken.objects.exists()


def test_missing_token_is_refused(amo):
    response = call(None)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_cors_only_for_the_account_domain(amo, client):
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PUT", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "x-auth-token"}
    ok = client.options("/api/widget/v1/leads/1/order", HTTP_ORIGIN="https://demo.amocrm.ru", **preflight)
    assert ok["Access-Control-Allow-Origin"] == "https://demo.amocrm.ru"
    assert "x-auth-token" in ok["Access-Control-Allow-Headers"]
    other = client.options("/api/widget/v1/leads/1/order", HTTP_ORIGIN="https://evil.amocrm.ru", **preflight)
    assert "Access-Control-Allow-Origin" not in other
    admin = client.options("/admin/", HTTP_ORIGIN="https://demo.amocrm.ru", **preflight)
    assert "Access-Control-Allow-Origin" not in admin


def test_docs_page_works_offline(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn." not in html and "redoc" in html.lower() and "/static/" in html
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/widget/v1/products" in schema.content


def test_a_token_may_be_reused_until_it_expires_when_configured(amo, settings):
    """amoCRM does not document whether a token is sent once: single use is the default, reuse a setting."""
    settings.AMOERP_WIDGET = {**settings.AMOERP_WIDGET, "TOKEN_SINGLE_USE": False}
    token = mint_widget_token(amo, 501)
    assert [call(token).status_code for _ in range(3)] == [200, 200, 200]
    assert not UsedToken.objects.exists()
    expired = mint_widget_token(amo, 501, exp=int(time.time()) - 3600, iat=int(time.time()) - 5400,
                                nbf=int(time.time()) - 5400)
    assert_401(call(expired), "expired")


def test_a_token_is_good_only_for_the_backend_of_its_account(amo, sandbox):
    """Another connected account's token (signed with its own secret) and a token naming an inactive backend's
    account are refused; the account's own token is not accepted for another account id."""
    from integration.models import Backend

    other = Backend.objects.create(
        name="other", kind=Backend.Kind.AMOCRM, base_url="https://other.amocrm.ru",
        credentials={"client_id": "other-client", "client_secret": "other-secret-other-secret-0123456789",
                     "redirect_uri": amo.credentials["redirect_uri"]},
        settings={"account_id": 424242, "subdomain": "other"})
    assert call(mint_widget_token(other, 501)).status_code == 200
    forged = mint_widget_token(amo, 501, account_id=424242)  # our secret, their account: signature fails
    assert_401(call(forged), "bad_signature")
    Backend.objects.filter(pk=other.pk).update(active=False)
    assert_401(call(mint_widget_token(other, 501)), "unknown_account")
