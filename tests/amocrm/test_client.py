import threading
import time

import pytest
from django.db import connection

from integration.amocrm.client import AmoCrmClient
from integration.amocrm.errors import BackendSuspended, ValidationFailed
from integration.amocrm.models import Alert
from integration.amocrm.ratelimit import LocalLimiter
from integration.models import Backend, JournalEntry
from tests.amocrm.conftest import as_manager, connect_backend, dump, stats

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


def element(name: str, sku: str) -> dict:
    return {"name": name, "custom_fields_values": [{"field_code": "SKU", "values": [{"value": sku}]}]}


def test_paging_follows_next_links_and_stops_on_204(sandbox, backend):
    client = AmoCrmClient(backend)
    catalog_id = client.products_catalog_id()
    created = client.write_batch("POST", f"/api/v4/catalogs/{catalog_id}/elements",
                                 [element(f"Товар {i}", f"A-{i}") for i in range(7)], "elements")
    assert len(created.applied) == 7
    names = [e["name"] for e in client.paginate(f"/api/v4/catalogs/{catalog_id}/elements", "elements", limit=3)]
    assert names == [f"Товар {i}" for i in range(7)]
    assert list(client.paginate("/api/v4/leads", "leads")) == []  # 204: an empty account
    assert client.get("/api/v4/leads/999999") is None  # 204 for an unknown id


def test_tokens_are_masked_in_the_journal(sandbox, backend):
    AmoCrmClient(backend).account()
    entries = JournalEntry.objects.filter(backend=backend)
    assert entries.exists()
    token = backend.credentials["access_token"]
    for entry in entries:
        assert token not in str(entry.request_headers) and token not in entry.response_body
        assert backend.credentials["refresh_token"] not in entry.response_body


def test_batch_with_a_rejected_item_applies_the_others_and_reports_it(sandbox, backend):
    client = AmoCrmClient(backend, batch_size=50)
    catalog_id = client.products_catalog_id()
    items = [{**element(f"Товар {i}", f"A-{i}"), "request_id": f"p{i}"} for i in range(5)]
    items[2] = {"name": "", "request_id": "p2"}  # no name: amoCRM rejects it
    items[3]["custom_fields_values"] = [{"field_id": 1, "values": [{"value": "x"}]}]  # unknown field
    result = client.write_batch("POST", f"/api/v4/catalogs/{catalog_id}/elements", items, "elements")
    assert set(result.applied) == {"p0", "p1", "p4"}
    assert set(result.rejected) == {"p2", "p3"}
    assert result.rejected["p2"][0]["path"] == "name"
    assert result.rejected["p3"][0]["code"] == "NotSupportedChoice"
    stored = dump(sandbox, "elements")
    assert sorted(e["name"] for e in stored) == ["Товар 0", "Товар 1", "Товар 4"]


def test_more_than_250_items_is_refused_by_the_sandbox_and_split_by_the_client(sandbox, backend):
    client = AmoCrmClient(backend, batch_size=250)
    catalog_id = client.products_catalog_id()
    with pytest.raises(Exception) as info:
        client.request("POST", f"/api/v4/catalogs/{catalog_id}/elements",
                       json=[element(f"T{i}", f"S{i}") for i in range(251)])
    assert info.value.status == 422 and "Limit 250" in str(info.value)
    result = client.write_batch("POST", f"/api/v4/catalogs/{catalog_id}/elements",
                                [{**element(f"T{i}", f"S{i}"), "request_id": f"r{i}"} for i in range(260)],
                                "elements")
    assert len(result.applied) == 260 and stats(sandbox)["elements"] == 260


def test_429_storm_loses_and_doubles_nothing(sandbox, backend):
    """Another integration hammers the account with our client's budget (same client id): our writes hit 429,
    wait, and each lands exactly once."""
    client = AmoCrmClient(backend, batch_size=2, limiter=LocalLimiter(limit=50, period=1.0))  # a client pacing badly
    catalog_id = client.products_catalog_id()
    sandbox.control("amocrm/settings", {"block_after": 100000})  # a storm, not a block
    stop = threading.Event()
    token = backend.credentials["access_token"]

    def hammer():
        import requests

        with requests.Session() as session:
            for _ in range(6):  # ~3 s of bursts that fill the window
                for _ in range(10):
                    session.get(f"{sandbox.url}/api/v4/account", headers={"Authorization": f"Bearer {token}"})
                if stop.wait(0.4):
                    return

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        result = client.write_batch("POST", f"/api/v4/catalogs/{catalog_id}/elements",
                                    [{**element(f"Storm {i}", f"ST-{i}"), "request_id": f"s{i}"} for i in range(20)],
                                    "elements")
    finally:
        stop.set()
        thread.join()
    assert client.stats.http_429 > 0
    names = sorted(e["name"] for e in dump(sandbox, "elements"))
    assert names == sorted(f"Storm {i}" for i in range(20))
    assert len(result.applied) == 20


def test_paced_client_meets_no_429(sandbox, backend):
    client = AmoCrmClient(backend)
    started = time.monotonic()
    for _ in range(16):
        client.account()
    assert client.stats.http_429 == 0
    assert stats(sandbox)["counters"].get("http_429", 0) == 0
    # 7 a window, each slot held from its answer: the 15th request leaves ≥ 2 windows after the 1st one's answer
    # (how much of that is waiting depends on how long the answers take: the machine's load).
    assert time.monotonic() - started > 2.0 and client.stats.waited_seconds > 0


@pytest.mark.django_db(transaction=True)
def test_token_rotation_race_refreshes_once_and_both_proceed(sandbox):
    backend = connect_backend(sandbox)
    first_refresh = backend.credentials["refresh_token"]
    sandbox.control("amocrm/clock", {"advance": 86400 + 60})  # every access token has expired
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def worker():
        try:
            mine = Backend.objects.get(pk=backend.pk)  # each thread: its own DB connection and instance
            client = AmoCrmClient(mine)
            barrier.wait()
            outcomes.append(client.account()["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and outcomes == [30441694, 30441694]
    assert stats(sandbox)["oauth"]["refreshes"] == 1
    backend.refresh_from_db()
    assert backend.credentials["refresh_token"] != first_refresh
    # The stored pair is the newest: its refresh token still works.
    sandbox.control("amocrm/clock", {"advance": 86400 + 60})
    assert AmoCrmClient(backend).account()["id"] == 30441694
    assert stats(sandbox)["oauth"] == {**stats(sandbox)["oauth"], "refreshes": 2, "refresh_rejected": 0}


def test_revoked_refresh_token_pauses_the_backend_with_a_clear_alert(sandbox, backend):
    sandbox.control("amocrm/revoke", {})  # an admin disabled the integration in amoCRM
    client = AmoCrmClient(backend)
    with pytest.raises(BackendSuspended):
        client.account()
    backend.refresh_from_db()
    assert backend.paused
    assert "refresh" in backend.paused_reason and "Token has been revoked" in backend.paused_reason
    alert = Alert.objects.get(backend=backend, code="token-revoked", resolved_at__isnull=True)
    assert "connect the account again" in alert.message


def test_reused_refresh_token_is_refused_by_the_sandbox(sandbox, backend):
    old = dict(backend.credentials)
    sandbox.control("amocrm/clock", {"advance": 86400 + 60})
    AmoCrmClient(backend).account()  # rotates
    backend.credentials = old  # a process that lost the new pair
    backend.save()
    with pytest.raises(BackendSuspended):
        AmoCrmClient(backend).account()
    assert Backend.objects.get(pk=backend.pk).paused


def test_long_lived_token_is_never_refreshed_and_401_pauses(sandbox, backend):
    from integration.amocrm.tokens import set_long_lived_token

    token = sandbox.control("amocrm/long_lived_token", {"lifetime": 3600})["access_token"]
    set_long_lived_token(backend, token)
    assert AmoCrmClient(backend).account()["id"] == 30441694
    sandbox.control("amocrm/revoke", {})
    with pytest.raises(BackendSuspended):
        AmoCrmClient(backend).account()
    assert stats(sandbox)["oauth"]["refreshes"] == 0
    assert Alert.objects.filter(backend=backend, code="unauthorized").exists()


def test_402_and_403_pause_the_backend(sandbox, backend):
    sandbox.control("amocrm/settings", {"subscription_expired": True})
    client = AmoCrmClient(backend)
    assert client.account()["id"] == 30441694  # reads still work
    with pytest.raises(BackendSuspended):
        client.add_note("leads", as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "x"}])["_embedded"]["leads"][0]["id"],
                        "common", {"text": "hi"})
    assert Alert.objects.filter(backend=backend, code="payment-required").exists()
    other = connect_backend(sandbox, name="amo2")
    sandbox.control("amocrm/block", {"seconds": 5})
    with pytest.raises(BackendSuspended):
        AmoCrmClient(other).account()
    other.refresh_from_db()
    assert other.paused and "403" in other.paused_reason


def test_validation_failed_on_single_write_is_typed(sandbox, backend):
    client = AmoCrmClient(backend)
    lead_id = as_manager(sandbox, "POST", "/api/v4/leads", [{"name": "Сделка"}])["_embedded"]["leads"][0]["id"]
    with pytest.raises(ValidationFailed) as info:
        client.update_entity("leads", lead_id, {"status_id": 1})
    assert info.value.errors["0"][0]["path"] == "status_id"


@pytest.mark.django_db(transaction=True)
def test_rotation_inside_a_business_transaction_is_committed_at_once(sandbox):
    """A caller holding a transaction (rolled back later) must not lose the rotated pair."""
    from django.db import transaction

    from integration.amocrm.tokens import refresh_access_token

    backend = connect_backend(sandbox)
    stale = backend.credentials["access_token"]
    with pytest.raises(RuntimeError), transaction.atomic():
        refresh_access_token(backend, stale)
        raise RuntimeError("the business transaction fails")
    fresh = Backend.objects.get(pk=backend.pk).credentials
    assert fresh["access_token"] != stale and fresh["refresh_token"] == backend.credentials["refresh_token"]
    assert stats(sandbox)["oauth"]["refreshes"] == 1
