"""The sandbox answers in MoySklad's documented shapes and enforces its limits (reference §3, §8)."""

import base64
import threading

import pytest

from tests.erp.conftest import raw

pytestmark = pytest.mark.sandbox


def test_gzip_is_required(ms):
    status, _, body = raw(ms, "GET", "/entity/product", gzip_ok=False)
    assert status == 415 and body is None


def test_bad_token_is_401_in_the_error_format(ms):
    status, _, body = raw(ms, "GET", "/entity/product", headers={"Authorization": "Bearer nope"})
    assert status == 401
    assert body["errors"][0]["code"] == 1056 and body["errors"][0]["error"]


def test_list_shape_meta_href_paging_and_kopecks(ms):
    status, headers, body = raw(ms, "GET", "/entity/product?limit=2&offset=4")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert "X-RateLimit-Remaining" in headers and "X-Lognex-Retry-TimeInterval" in headers
    meta = body["meta"]
    assert meta["href"].endswith("/api/remap/1.2/entity/product") and meta["type"] == "product"
    assert meta["limit"] == 2 and meta["offset"] == 4 and meta["size"] > 200
    assert "limit=2" in meta["nextHref"] and "offset=6" in meta["nextHref"]
    row = body["rows"][0]
    assert row["meta"]["href"] == f"{ms.url}/api/remap/1.2/entity/product/{row['id']}"
    assert row["meta"]["mediaType"] == "application/json"
    price = row["salePrices"][0]
    assert isinstance(price["value"], float) and price["value"] == round(price["value"])
    assert price["priceType"]["meta"]["type"] == "pricetype"
    assert len(row["updated"]) == len("2026-01-01 00:00:00.000")


def test_limit_over_1000_and_arrays_over_1000_are_refused(ms):
    status, _, body = raw(ms, "GET", "/entity/product?limit=1001")
    assert status == 400 and body["errors"][0]["parameter"] == "limit"
    status, _, body = raw(ms, "POST", "/entity/counterparty", body=[{"name": f"c{n}"} for n in range(1001)])
    assert status == 413 and body["errors"]


def test_expand_is_ignored_over_limit_100(ms):
    _, _, wide = raw(ms, "GET", "/entity/bundle?expand=components&limit=101")
    _, _, narrow = raw(ms, "GET", "/entity/bundle?expand=components&limit=100")
    assert "rows" not in wide["rows"][0]["components"]
    assert narrow["rows"][0]["components"]["rows"][0]["assortment"]["meta"]["type"] == "product"


def _sell_out(ms) -> str:
    """Make one product (not batch-tracked, nothing reserved) zero in every store; returns its id."""
    _, _, consignments = raw(ms, "GET", "/entity/consignment")
    tracked = {c["assortment"]["meta"]["href"].rsplit("/", 1)[-1] for c in consignments["rows"]}
    _, _, stock = raw(ms, "GET", "/report/stock/all?filter=stockMode=all;quantityMode=all")
    row = next(
        r
        for r in stock["rows"]
        if r["reserve"] == 0 and r["meta"]["href"].split("?")[0].rsplit("/", 1)[-1] not in tracked
    )
    product_id = row["meta"]["href"].split("?")[0].rsplit("/", 1)[-1]
    _, _, stores = raw(ms, "GET", "/entity/store")
    ms.control(
        "moysklad/stock",
        {
            "changes": [
                {"product": product_id, "store": s["id"], "stock": 0, "inTransit": 0} for s in stores["rows"]
            ]
        },
    )
    return product_id


def test_stock_report_defaults_hide_zero_rows_and_hrefs_carry_expand(ms):
    _sell_out(ms)
    _, _, default = raw(ms, "GET", "/report/stock/all")
    _, _, everything = raw(ms, "GET", "/report/stock/all?filter=stockMode=all;quantityMode=all")
    assert everything["meta"]["size"] > default["meta"]["size"]
    row = default["rows"][0]
    assert row["meta"]["href"].endswith("?expand=supplier")
    assert row["quantity"] == row["stock"] - row["reserve"] + row["inTransit"]
    _, _, bystore = raw(ms, "GET", "/report/stock/bystore?filter=stockMode=all")
    assert {"meta", "name", "stock", "reserve", "inTransit"} <= set(bystore["rows"][0]["stockByStore"][0])


def test_current_report_and_changed_since_window(ms):
    status, _, rows = raw(ms, "GET", "/report/stock/bystore/current?stockType=reserve")
    assert status == 200 and rows and {"assortmentId", "storeId", "reserve"} == set(rows[0])
    status, _, body = raw(ms, "GET", "/report/stock/all/current?changedSince=2020-01-01%2000:00:00")
    assert status == 400 and body["errors"][0]["parameter"] == "changedSince"


def test_token_endpoint_revokes_previous_tokens(ms):
    basic = "Basic " + base64.b64encode(b"admin@sandbox:sandbox").decode()
    status, _, body = raw(ms, "POST", "/security/token", headers={"Authorization": basic})
    assert status == 201 and body["access_token"]
    assert raw(ms, "GET", "/entity/store")[0] == 401  # the old token is revoked
    assert (
        raw(ms, "GET", "/entity/store", headers={"Authorization": f"Bearer {body['access_token']}"})[0] == 200
    )


def test_flooding_gets_429_with_lognex_headers(ms):
    results = []

    def hammer():
        for _ in range(12):
            results.append(raw(ms, "GET", "/report/stock/all?limit=1"))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limited = [r for r in results if r[0] == 429]
    assert limited, "48 heavy requests (weight 5) must exceed 45 units / 3 s"
    status, headers, body = limited[0]
    assert body["errors"][0]["code"] in (1049, 1073)
    rate = [r for r in limited if r[2]["errors"][0]["code"] == 1049][0]
    for header in (
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-Lognex-Retry-TimeInterval",
        "X-Lognex-Reset",
        "X-Lognex-Retry-After",
    ):
        assert header in rate[1]


def test_sync_id_makes_a_repeated_create_return_the_first(ms):
    _, _, org = raw(ms, "GET", "/entity/organization")
    _, _, agents = raw(ms, "GET", "/entity/counterparty?limit=1")
    body = {
        "organization": {"meta": org["rows"][0]["meta"]},
        "agent": {"meta": agents["rows"][0]["meta"]},
        "syncId": "6a9f4c1e-2b1d-4f5e-9a3c-7d8e9f0a1b2c",
    }
    first = raw(ms, "POST", "/entity/customerorder", body=body)
    second = raw(ms, "POST", "/entity/customerorder", body=body)
    assert first[0] == second[0] == 200 and first[2]["id"] == second[2]["id"]
    status, _, error = raw(ms, "POST", "/entity/customerorder", body={"agent": body["agent"]})
    assert status == 412 and error["errors"][0]["parameter"] == "organization"
