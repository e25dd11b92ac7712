"""The OData client against the 1C sandbox process over real HTTP."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from integration.erp.onec.client import OneCClient, any_of, text
from integration.errors import PermanentError, RetryableError
from integration.models import JournalEntry
from tests.onec.conftest import entities, make_backend

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_pages_cover_every_row_once_in_key_order(onec, backend):
    backend.settings["page_size"] = 37
    client = OneCClient(backend)
    pages = list(client.iter_pages("Catalog_Номенклатура", select=("Ref_Key", "Артикул"), filter="IsFolder eq false"))
    keys = [row["Ref_Key"] for page in pages for row in page]
    expected = sorted(r["Ref_Key"] for r in entities(onec, "Catalog_Номенклатура", "IsFolder eq false"))
    assert len(pages) > 3 and all(len(page) <= 37 for page in pages)
    assert keys == expected


def test_a_listing_opens_a_database_session_per_worker_not_per_page(onec, backend):
    """The journal writes each page's request from its worker thread: a worker keeps that connection for the
    listing (a PostgreSQL session costs a backend start) and none is left open when the listing ends."""
    from django.db import connection

    def sessions() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            opened = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return opened, cursor.fetchone()[0]

    backend.settings["page_size"] = 10
    client = OneCClient(backend)
    before = sessions()
    pages = list(client.iter_pages("Catalog_Номенклатура", select=("Ref_Key",), filter="IsFolder eq false"))
    after = sessions()
    assert len(pages) > 2 * client.pool_size
    assert JournalEntry.objects.filter(backend=backend).count() >= len(pages)
    assert after[0] - before[0] <= client.pool_size  # ended sessions are counted: one a page would be more
    for _ in range(50):  # a closed session's backend leaves pg_stat_activity a moment after the close
        if sessions()[1] <= before[1]:
            break
        time.sleep(0.05)
    assert sessions()[1] <= before[1]


def test_filters_like_guid_and_select(backend):
    client = OneCClient(backend)
    rows = client.query("Catalog_Номенклатура", filter="like(Артикул, 'GML-%') and IsFolder eq false",
                        select=("Ref_Key", "Артикул"))
    assert rows and all(r["Артикул"].startswith("GML-") and set(r) == {"Ref_Key", "Артикул"} for r in rows)
    keys = [r["Ref_Key"] for r in rows[:3]]
    by_key = client.query("Catalog_Номенклатура", filter=any_of("Ref_Key", keys), select=("Ref_Key",))
    assert sorted(r["Ref_Key"] for r in by_key) == sorted(keys)
    quoted = client.query("Catalog_Контрагенты", filter=f"Description eq {text('ООО «Д''Артаньян»')}")
    assert quoted == []


def test_key_batches_split_when_the_url_is_refused(onec, backend):
    onec.control("onec/tuning", {"max_request_line": 2500})  # a 40-key `or` filter is ~3 KB
    client = OneCClient(backend)
    keys = [r["Ref_Key"] for r in entities(onec, "Catalog_Номенклатура", "IsFolder eq false")][:100]
    rows = client.by_keys("Catalog_Номенклатура", keys, select=("Ref_Key",))
    assert sorted(r["Ref_Key"] for r in rows) == sorted(keys)
    # 100 keys: two batches of 40 refused and halved, the last 20 pass at once.
    assert onec.control("stats", method="GET")["statuses"].get("414") == 2


def test_errors_come_with_1c_message(backend):
    client = OneCClient(backend)
    with pytest.raises(PermanentError) as missing:
        client.query("Catalog_НетТакого")
    assert missing.value.status == 404 and "Catalog_НетТакого" in str(missing.value)
    with pytest.raises(PermanentError) as bad:
        client.query("Catalog_Номенклатура", filter="Артикул eq")
    assert bad.value.status == 400


def test_wrong_password_is_a_permanent_error_naming_the_login_only(onec, db):
    backend = make_backend(onec)
    backend.credentials = {"login": "Администратор", "password": "wrong-secret"}
    with pytest.raises(PermanentError) as refused:
        OneCClient(backend).query("Catalog_Склады")
    assert refused.value.status == 401
    assert "Администратор" in str(refused.value) and "wrong-secret" not in str(refused.value)


def test_pool_full_is_retried_then_retryable(onec, backend):
    onec.set_faults(down=True)
    with pytest.raises(RetryableError):
        OneCClient(backend).query("Catalog_Склады")
    assert JournalEntry.objects.filter(backend=backend, status_code=503).count() == 2


def test_parallelism_stays_within_the_pool(onec, backend):
    """Eight threads share one client: the publication (pool of 4) never sees more than 4 at once, no 503."""
    onec.control("onec/tuning", {"work_ms": 80})
    backend.settings["page_size"] = 20
    client = OneCClient(backend)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: sum(len(p) for p in client.iter_pages("Catalog_Склады")), range(8)))
    stats = onec.control("stats", method="GET")
    assert results == [3] * 8
    assert stats["pool_rejections"] == 0 and 1 < stats["max_in_flight"] <= 4
