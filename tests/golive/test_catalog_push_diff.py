"""The dry run with a diff covers the amoCRM catalog push: what would be created or updated in amoCRM, each
field as amoCRM holds it → as we would send it, nothing written there; the real run from the same page sends
exactly that and keeps the same diff. Real amoCRM sandbox."""

from decimal import Decimal

import pytest

from catalog.models import Price, PriceList, Product
from integration.amocrm.catalog_push import push_catalog
from integration.amocrm.mappers import values_by_code
from integration.staff.sync_diff import dry_run_with_diff, real_run_with_diff, supports
from tests.amocrm.conftest import amo_sandbox, backend, dump, sandbox, stats  # noqa: F401 - fixtures
from tests.catalog import factories as f

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


@pytest.fixture
def pushed(sandbox, backend):  # noqa: F811
    """Two cables in amoCRM already; then one's price changes and a third product is added."""
    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    cables = []
    for i in range(2):
        cable = f.product(f"CAB-{i}", name=f"Кабель ВВГ {i}")
        Price.objects.create(product=cable, price_list=retail, amount=Decimal("100.50") + i)
        cables.append(cable)
    assert push_catalog(backend).created == 2
    Price.objects.filter(product=cables[1]).update(amount=Decimal("250"))
    lamp = f.product("LMP-1", name="Лампа LED")
    Price.objects.create(product=lamp, price_list=retail, amount=Decimal("45"))
    return cables, lamp


def _view(entries):
    return sorted((e["action"], e["model"], e["external_id"], e["object"], sorted(e["changes"].items()))
                  for e in entries)


def test_the_catalog_push_dry_run_lists_what_amocrm_would_get_and_equals_the_real_run(sandbox, backend, pushed):  # noqa: F811
    cables, lamp = pushed
    assert supports("crm_catalog")
    writes = stats(sandbox)["counters"]["writes"]

    dry = dry_run_with_diff("crm_catalog", backend)

    assert stats(sandbox)["counters"]["writes"] == writes  # nothing was sent to amoCRM
    assert dry.run.dry_run and (dry.run.created, dry.run.updated, dry.run.unchanged) == (1, 1, 1)
    by_object = {e["object"]: e for e in dry.entries}
    assert set(by_object) == {str(cables[1]), str(lamp)}  # the unchanged cable is not listed
    update = by_object[str(cables[1])]
    assert update["action"] == "update" and update["model"] == "amocrm.CatalogElement"
    assert update["changes"]["PRICE"] == ["101.5", "250.00"]  # as amoCRM holds it → as we would send it
    assert set(update["changes"]) == {"PRICE", f"AMOERP_PRICE_{PriceList.objects.get().pk}"}
    create = by_object[str(lamp)]
    assert create["action"] == "create" and create["external_id"] == f"amoerp:{lamp.pk}"
    assert create["changes"]["name"] == [None, "Лампа LED"] and create["changes"]["SKU"] == [None, "LMP-1"]
    assert dry.run.details["diff"] == dry.entries

    real = real_run_with_diff("crm_catalog", backend)

    assert not real.run.dry_run and (real.run.created, real.run.updated) == (1, 1)
    assert _view(real.entries) == _view(dry.entries)
    assert real.run.details["diff"] == real.entries
    elements = {values_by_code(e["custom_fields_values"])["SKU"][0]: e for e in dump(sandbox, "elements")}
    assert values_by_code(elements["CAB-1"]["custom_fields_values"])["PRICE"] == ["250"]
    assert "LMP-1" in elements
    assert dry_run_with_diff("crm_catalog", backend).entries == []  # amoCRM holds it all now
    assert Product.objects.count() == 3


def test_the_diff_page_offers_the_catalog_push_for_amocrm(client, sandbox, backend, pushed):  # noqa: F811
    from django.urls import reverse

    from integration.models import SyncRun
    from integration.staff.groups import OPERATOR_GROUP
    from tests.admin_ui.conftest import PASSWORD, make_user

    url = reverse("staff:backend-sync-diff", args=[backend.pk])
    assert client.login(username=make_user("operator1", OPERATOR_GROUP).username, password=PASSWORD)
    assert 'value="crm_catalog"' in client.get(url).content.decode()
    answer = client.post(url, {"kind": "crm_catalog", "real": "0"})
    run = SyncRun.objects.get(kind="crm_catalog", dry_run=True)
    assert answer.status_code == 302 and answer["Location"].endswith(f"?run={run.pk}")
    page = client.get(answer["Location"] + "&model=amocrm.CatalogElement&action=create").content.decode()
    assert "LMP-1" in page and "CAB-1" not in page


def test_a_first_dry_run_writes_nothing_to_a_fresh_account(sandbox, backend):  # noqa: F811
    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    cable = f.product("CAB-0", name="Кабель ВВГ 0")
    Price.objects.create(product=cable, price_list=retail, amount=Decimal("100.50"))
    writes = stats(sandbox)["counters"].get("writes", 0)

    dry = dry_run_with_diff("crm_catalog", backend)

    assert stats(sandbox)["counters"].get("writes", 0) == writes  # not even our element fields are created
    [entry] = dry.entries
    assert entry["action"] == "create" and entry["changes"]["SKU"] == [None, "CAB-0"]
    assert entry["changes"][f"AMOERP_PRICE_{retail.pk}"] == [None, "100.50"]
    real = real_run_with_diff("crm_catalog", backend)
    assert _view(real.entries) == _view(dry.entries)
