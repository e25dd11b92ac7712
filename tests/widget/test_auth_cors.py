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
