"""GET /api/widget/v1/ping and the CORS preflight of every widget endpoint, over real HTTP to the live server."""

import json
import re
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from integration.amocrm.widget_token import mint_widget_token
from integration.widget import urls as widget_urls
from tests.widget.conftest import APPROVER, MANAGER, amo, amo_sandbox, sandbox  # noqa: F401 — fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]
BASE = "/api/widget/v1/"
ACCOUNT_ORIGIN = "https://demo.amocrm.ru"


def http(method: str, url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = Request(url, method=method, headers=headers or {})
    try:
        with urlopen(request, timeout=20) as response:  # noqa: S310 — the live server
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def widget_paths() -> list[str]:
    """Every route of the widget API, with 1 for each id."""
    return [BASE + re.sub(r"<int:\w+>", "1", str(pattern.pattern)) for pattern in widget_urls.urlpatterns]


def test_ping_names_the_account_the_user_and_the_platform_version(amo, live_server):  # noqa: F811
    status, _, body = http("GET", live_server.url + BASE + "ping",
                           {"X-Auth-Token": mint_widget_token(amo, MANAGER)})
    assert status == 200, body
    about = json.loads(body)
    assert about["account_id"] == amo.settings["account_id"] and about["subdomain"] == "demo"
    assert about["user_id"] == MANAGER and about["can_approve"] is False
    assert about["platform"] == "amoerp" and re.fullmatch(r"\d+\.\d+\.\d+.*", about["version"])
    status, _, body = http("GET", live_server.url + BASE + "ping", {"X-Auth-Token": mint_widget_token(amo, APPROVER)})
    assert json.loads(body)["can_approve"] is True
    status, headers, body = http("GET", live_server.url + BASE + "ping")
    assert status == 401 and headers["content-type"] == "application/problem+json"


def test_every_widget_endpoint_answers_the_preflight_for_the_account_origin_only(amo, live_server):  # noqa: F811
    paths = widget_paths()
    assert BASE + "ping" in paths and len(paths) >= 7
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-auth-token,content-type"}
    for path in paths:
        status, headers, _ = http("OPTIONS", live_server.url + path, {"Origin": ACCOUNT_ORIGIN, **preflight})
        assert status == 200, path
        assert headers.get("access-control-allow-origin") == ACCOUNT_ORIGIN, path
        allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
        assert {"x-auth-token", "content-type"} <= allowed, path
        assert "access-control-allow-credentials" not in headers, path
        assert "origin" in headers.get("vary", "").lower(), path
        for stranger in ("https://evil.amocrm.ru", "http://demo.amocrm.ru", "https://demo.amocrm.ru.evil.com"):
            _, headers, _ = http("OPTIONS", live_server.url + path, {"Origin": stranger, **preflight})
            assert "access-control-allow-origin" not in headers, (path, stranger)
    # The real call after the preflight carries the same answer, never "*" and never credentials.
    status, headers, _ = http("GET", live_server.url + BASE + "ping",
                              {"Origin": ACCOUNT_ORIGIN, "X-Auth-Token": mint_widget_token(amo, MANAGER)})
    assert status == 200 and headers["access-control-allow-origin"] == ACCOUNT_ORIGIN
    assert "access-control-allow-credentials" not in headers
