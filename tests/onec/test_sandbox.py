"""The 1C sandbox speaks 1C's OData as documented: raw HTTP against the process, no client of ours."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

import pytest

from tests.onec.conftest import LOGIN, PASSWORD, entities

pytestmark = pytest.mark.sandbox

SAFE = "$,'()/:;_!=*&"
AUTH = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()


def call(sandbox, method: str, path: str, query: str = "", body=None, auth: str | None = AUTH):
    url = f"{sandbox.url}/demo/odata/standard.odata/{quote(path, safe=SAFE)}"
    if query:
        url += "?" + quote(query, safe=SAFE)
    headers = {"Authorization": auth} if auth else {}
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urlopen(Request(url, data=data, method=method, headers=headers), timeout=30) as response:
            status, payload = response.status, response.read()
    except HTTPError as exc:
        status, payload = exc.code, exc.read()
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload.decode()


def test_auth_metadata_and_response_shapes(onec):
    assert call(onec, "GET", "Catalog_Склады", "$format=json", auth=None)[0] == 401
    wrong = "Basic " + base64.b64encode(f"{LOGIN}:x".encode()).decode()
    assert call(onec, "GET", "Catalog_Склады", "$format=json", auth=wrong)[0] == 401
    status, metadata = call(onec, "GET", "$metadata")
    assert status == 200 and '<EntitySet Name="Catalog_Номенклатура"' in metadata
    assert "ЦеныНоменклатуры25" not in metadata  # УТ 11 (11.4 pricing)
    status, full = call(onec, "GET", "Catalog_Контрагенты", "$format=json&$top=1")
    row = full["value"][0]
    assert full["odata.metadata"].endswith("$metadata#Catalog_Контрагенты")
    assert row["Партнер@navigationLinkUrl"].startswith("Catalog_Контрагенты(guid'")
    assert isinstance(row["DataVersion"], str) and row["DeletionMark"] is False
    status, bare = call(onec, "GET", "Catalog_Контрагенты", "$format=json;odata=nometadata&$top=1")
    assert set(bare) == {"value"} and "Партнер@navigationLinkUrl" not in bare["value"][0]
    status, error = call(onec, "GET", "Catalog_Товары", "$format=json")
    assert status == 404 and error["odata.error"]["message"]["lang"] == "ru"


def test_filters_paging_and_virtual_tables(onec):
    query = "$format=json;odata=nometadata&$select=Ref_Key,Артикул&$filter=IsFolder eq false and like(Артикул,'VVG%')"
    rows = call(onec, "GET", "Catalog_Номенклатура", query + "&$orderby=Ref_Key")[1]["value"]
    assert rows and all(r["Артикул"].startswith("VVG") for r in rows)
    assert [r["Ref_Key"] for r in rows] == sorted(r["Ref_Key"] for r in rows)
    page = call(onec, "GET", "Catalog_Номенклатура", query + "&$orderby=Ref_Key&$top=2&$skip=1")[1]["value"]
    assert page == rows[1:3]
    one = rows[0]["Ref_Key"]
    found = call(onec, "GET", "Catalog_Номенклатура",
                 f"$format=json;odata=nometadata&$filter=Ref_Key eq guid'{one}' or Артикул eq 'нет'")[1]["value"]
    assert [r["Ref_Key"] for r in found] == [one]
    # Both quotings of a guid inside Condition (additions §0.5) are accepted.
    for literal in (f"guid''{one}''", f"guid'{one}'"):
        path = f"InformationRegister_ЦеныНоменклатуры/SliceLast(Period=datetime'2026-06-01T00:00:00',Condition='Номенклатура_Key eq {literal}')"
        prices = call(onec, "GET", path, "$format=json;odata=nometadata")[1]["value"]
        assert len(prices) == 3 and {p["Period"] for p in prices} == {"2026-01-01T00:00:00"}
    old = call(onec, "GET", "InformationRegister_ЦеныНоменклатуры/SliceLast(Period=datetime'2025-12-01T00:00:00')",
               "$format=json;odata=nometadata&$top=1")[1]["value"]
    assert old[0]["Period"] == "2025-07-01T00:00:00"
    balance = call(onec, "GET", "AccumulationRegister_ТоварыНаСкладах/Balance(Dimensions='Номенклатура')",
                   "$format=json;odata=nometadata&$top=3")[1]["value"]
    assert set(balance[0]) == {"Номенклатура_Key", "ВНаличииBalance", "КОтгрузкеBalance"}


def test_a_balance_condition_on_keys_selects_as_a_full_scan_would(onec):
    """A Condition naming keys of one dimension is served through the sandbox's index: the same rows as the
    whole balance filtered (a guid in capitals, an `or` of keys, a key with no balance)."""
    dims = "Dimensions='Номенклатура,Склад'"
    nometadata = "$format=json;odata=nometadata"

    def balance(condition: str = "") -> list[str]:
        path = f"AccumulationRegister_ТоварыНаСкладах/Balance({dims}{condition})"
        return sorted(json.dumps(r, sort_keys=True) for r in call(onec, "GET", path, nometadata)[1]["value"])

    everything = [json.loads(r) for r in balance()]
    warehouse = everything[0]["Склад_Key"]
    products = sorted({r["Номенклатура_Key"] for r in everything})[:2]
    one = balance(f",Condition='Склад_Key eq guid''{warehouse.upper()}'''")
    assert one == sorted(json.dumps(r, sort_keys=True) for r in everything if r["Склад_Key"] == warehouse)
    keys = [*products, "00000000-0000-0000-0000-00000000abcd"]
    two = balance(",Condition='" + " or ".join(f"Номенклатура_Key eq guid''{k}''" for k in keys) + "'")
    assert two == sorted(json.dumps(r, sort_keys=True) for r in everything if r["Номенклатура_Key"] in products)


def test_writes_post_and_1c_refusals(onec):
    warehouse = entities(onec, "Catalog_Склады")[0]["Ref_Key"]
    product = entities(onec, "Catalog_Номенклатура", "ТипНоменклатуры eq 'Товар'")[0]["Ref_Key"]
    line = {"LineNumber": 1, "Номенклатура_Key": product, "Количество": 2, "Цена": 10, "Сумма": 20,
            "ВариантОбеспечения": "СоСклада", "Склад_Key": warehouse}
    assert call(onec, "POST", "Document_ЗаказКлиента_Товары", "$format=json", line)[1]["odata.error"]["code"] == "13"
    status, error = call(onec, "POST", "Document_ЗаказКлиента", "$format=json", {"Posted": True, "Товары": [line]})
    assert status == 400 and "Posted" in error["odata.error"]["message"]["value"]
    status, created = call(onec, "POST", "Document_ЗаказКлиента", "$format=json;odata=nometadata",
                           {"Склад_Key": warehouse, "Товары": [line]})
    assert status == 201 and created["Posted"] is False and created["Number"]
    key = created["Ref_Key"]
    free = "AccumulationRegister_СвободныеОстатки/Balance(Condition='Номенклатура_Key eq guid''{}'' and Склад_Key eq guid''{}''')"
    path = free.format(product, warehouse)

    def reserved():
        rows = call(onec, "GET", path, "$format=json;odata=nometadata")[1]["value"]
        return rows[0]["ВРезервеСоСкладаBalance"] if rows else 0

    before = reserved()
    assert call(onec, "POST", f"Document_ЗаказКлиента(guid'{key}')/Post", "PostingModeOperational=false")[0] == 200
    assert reserved() - before == 2
    assert call(onec, "POST", f"Document_ЗаказКлиента(guid'{key}')/Post", "PostingModeOperational=false")[0] == 200
    assert reserved() - before == 2  # posting again rewrites the same movements
    assert call(onec, "POST", f"Document_ЗаказКлиента(guid'{key}')/Unpost")[0] == 200
    assert reserved() == before


def test_the_publication_pool_answers_503_past_its_size(onec):
    onec.control("onec/tuning", {"work_ms": 300})  # the sandbox's pool is 4 (conftest)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: call(onec, "GET", "Catalog_Склады", "$format=json")[0], range(8)))
    assert statuses.count(200) >= 4 and 503 in statuses
    assert onec.control("stats", method="GET")["pool_rejections"] == statuses.count(503)


