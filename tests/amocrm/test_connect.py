import pytest
from django.contrib.auth.models import User

from integration.amocrm.views import oauth_state
from integration.models import Backend
from tests.amocrm.conftest import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, stats

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


@pytest.fixture
def unconnected(sandbox):
    return Backend.objects.create(
        name="amo", kind=Backend.Kind.AMOCRM, base_url=sandbox.url,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI},
        settings={"account_id": ACCOUNT_ID})


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.ru", "x"))
    return client


def test_connect_page_lists_backends_and_exchanges_a_pasted_code(sandbox, unconnected, staff):
    page = staff.get("/admin/amocrm/alert/connect/")
    assert page.status_code == 200
    assert "state=" in page.content.decode() and "not connected" in page.content.decode()
    code = sandbox.control("amocrm/oauth/code", {})["code"]
    response = staff.post("/admin/amocrm/alert/connect/", {"backend": unconnected.pk, "code": code})
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.credentials["access_token"] and unconnected.credentials["refresh_token"]
    assert stats(sandbox)["oauth"]["codes_exchanged"] == 1
    again = staff.post("/admin/amocrm/alert/connect/", {"backend": unconnected.pk, "code": code})
    assert again.status_code == 200 and "Authorization code has been revoked" in again.content.decode()


def test_connect_page_stores_a_long_lived_token_and_needs_one_of_the_two(sandbox, unconnected, staff):
    assert "either" in staff.post("/admin/amocrm/alert/connect/", {"backend": unconnected.pk}).content.decode()
    token = sandbox.control("amocrm/long_lived_token", {})["access_token"]
    staff.post("/admin/amocrm/alert/connect/", {"backend": unconnected.pk, "long_lived_token": token})
    unconnected.refresh_from_db()
    assert unconnected.credentials["long_lived"] is True and unconnected.credentials["access_token"] == token


def test_oauth_redirect_checks_the_signed_state(sandbox, unconnected, staff, client):
    code = sandbox.control("amocrm/oauth/code", {})["code"]
    assert staff.get("/hooks/amocrm/oauth/", {"code": code, "state": "forged"}).status_code == 400
    response = staff.get("/hooks/amocrm/oauth/", {"code": code, "state": oauth_state(unconnected),
                                                  "referer": "demo.amocrm.ru"})
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.credentials["access_token"]


def test_connect_page_is_for_staff_only(client, unconnected):
    assert client.get("/admin/amocrm/alert/connect/").status_code == 302  # to the login page
    assert client.get("/hooks/amocrm/oauth/", {"code": "x", "state": "y"}).status_code == 302
