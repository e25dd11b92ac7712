import time

import jwt
import pytest

from integration.amocrm.widget_token import InvalidWidgetToken, mint_widget_token, verify_widget_token
from tests.amocrm.factories import make_amocrm_backend

pytestmark = pytest.mark.django_db


def _reason(token: str) -> str:
    with pytest.raises(InvalidWidgetToken) as info:
        verify_widget_token(token)
    return info.value.reason


def test_valid_token_identifies_backend_user_and_admin_flag():
    backend = make_amocrm_backend()
    token = mint_widget_token(backend, 87654321, is_admin=True)
    identity = verify_widget_token(token)
    assert identity.backend == backend
    assert identity.account_id == 30441694
    assert identity.user_id == 87654321
    assert identity.is_admin is True
    assert identity.subdomain == "demo"
    assert identity.jti
    assert 1700 < identity.expires_at.timestamp() - time.time() <= 1800


def test_token_shaped_like_amocrm_example_is_accepted():
    backend = make_amocrm_backend()
    now = int(time.time())
    claims = {"iss": "https://demo.amocrm.ru", "aud": "https://erp.example.com", "jti": "d628f123",
              "iat": now, "nbf": now, "exp": now + 1800, "account_id": 30441694, "user_id": 1,
              "subdomain": "demo", "client_uuid": backend.credentials["client_id"]}
    token = jwt.encode(claims, backend.credentials["client_secret"], algorithm="HS256")
    assert verify_widget_token(token).is_admin is False


def test_expired_token_is_rejected():
    backend = make_amocrm_backend()
    past = int(time.time()) - 4000
    assert _reason(mint_widget_token(backend, 1, iat=past, nbf=past, exp=past + 1800)) == "expired"


def test_token_from_the_future_is_rejected_but_small_clock_skew_is_tolerated():
    backend = make_amocrm_backend()
    future = int(time.time()) + 600
    assert _reason(mint_widget_token(backend, 1, iat=future, nbf=future, exp=future + 1800)) == "not_yet_valid"
    skewed = int(time.time()) + 5
    assert verify_widget_token(mint_widget_token(backend, 1, iat=skewed, nbf=skewed)).user_id == 1


def test_bad_signature_is_rejected():
    backend = make_amocrm_backend()
    token = mint_widget_token(backend, 1)
    forged = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "another-secret-of-enough-length-xx",
                        algorithm="HS256")
    assert _reason(forged) == "bad_signature"
    header, payload, signature = token.split(".")
    assert _reason(f"{header}.{payload}.{signature[:-4]}AAAA") == "bad_signature"


def test_wrong_audience_is_rejected():
    backend = make_amocrm_backend()
    assert _reason(mint_widget_token(backend, 1, aud="https://evil.example.org")) == "wrong_audience"


def test_unknown_or_inactive_account_is_rejected():
    backend = make_amocrm_backend()
    assert _reason(mint_widget_token(backend, 1, account_id=111)) == "unknown_account"
    token = mint_widget_token(backend, 1)
    backend.active = False
    backend.save()
    assert _reason(token) == "unknown_account"


def test_other_integrations_client_uuid_is_rejected():
    backend = make_amocrm_backend()
    assert _reason(mint_widget_token(backend, 1, client_uuid="someone-else")) == "wrong_client"


def test_garbage_and_none_algorithm_are_rejected():
    backend = make_amocrm_backend()
    assert _reason("not-a-jwt") == "malformed"
    assert _reason("") == "missing"
    unsigned = jwt.encode({"account_id": 30441694, "user_id": 1}, None, algorithm="none")
    assert _reason(unsigned) == "bad_algorithm"
    assert backend.pk


@pytest.mark.parametrize("stored", [30441694, "30441694"])
def test_the_account_is_found_whether_its_id_was_stored_as_a_number_or_a_string(stored):
    """Several amoCRM accounts: the token's account is looked up in the database, not by loading (and decrypting)
    every backend — so another account whose secrets this server cannot read (stored under a key since
    removed) does not take this account's widget down."""
    from django.db import connection

    from integration.models import Backend

    for n in range(3):
        make_amocrm_backend(name=f"other-{n}", account_id=1000 + n)
    with connection.cursor() as cursor:  # raw: the field would encrypt whatever we gave it
        cursor.execute(f"UPDATE {Backend._meta.db_table} SET credentials = %s WHERE name = %s",
                       ["gAAAAA-written-with-a-key-since-removed", "other-1"])
    backend = make_amocrm_backend()
    backend.settings = {**backend.settings, "account_id": stored}
    backend.save()
    assert verify_widget_token(mint_widget_token(backend, 5)).backend == backend
