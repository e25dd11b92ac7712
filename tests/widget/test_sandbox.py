"""The widget against the MoySklad sandbox: the ERP number comes back on the fast path, and stale stock
is refreshed from the ERP within the budget."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Pack, Product, StockLevel, Warehouse
from counterparties.models import Counterparty
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.stock_sync import sync_stock
from orders import actions
from tests.erp.conftest import backend, entities, ms, ms_sandbox  # noqa: F401 — fixtures

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BASE = "/api/widget/v1"


@pytest.fixture
def catalog(backend):  # noqa: F811
    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    return backend


@pytest.fixture
def customer(ms):  # noqa: F811
    erp = entities(ms, "counterparty", "companyType=legal")[0]
    return Counterparty.objects.create(kind="legal", name=erp["name"], inn=erp["inn"], kpp=erp["kpp"])


def test_put_cart_returns_the_erp_number_on_the_fast_path(catalog, customer, manager, deal):
    lead = deal()
    cable = Product.objects.get(article="VVGNG-3X2.5")
    reel = Pack.objects.get(product=cable)
    moscow = Warehouse.objects.get(name="Москва")
    actions.get_or_create_order_for_lead(lead, counterparty=customer, warehouse=moscow)
    response = manager.put(f"{BASE}/leads/{lead}/order",
                           {"lines": [{"product": cable.pk, "quantity": "2", "pack": reel.pk}]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["erp_number"] and body["status"] == "reserved"
    assert body["order"]["reservations"][0]["status"] == "confirmed"


def test_stale_stock_is_refreshed_from_the_erp(catalog, manager):
    cable = Product.objects.get(article="VVGNG-3X2.5")
    old = timezone.now() - timedelta(hours=2)
    StockLevel.objects.filter(product=cable).update(snapshot_at=old)
    found = manager.get(f"{BASE}/products", {"q": "VVGNG-3X2.5"}).json()["results"][0]
    assert found["stock"]["stale"] is False
    assert StockLevel.objects.filter(product=cable, snapshot_at__gt=old).exists()
    catalog.paused = True  # the ERP can't be asked: the stock is shown, flagged stale
    catalog.save()
    StockLevel.objects.filter(product=cable).update(snapshot_at=old)
    found = manager.get(f"{BASE}/products", {"q": "VVGNG-3X2.5"}).json()["results"][0]
    assert found["stock"]["stale"] is True
