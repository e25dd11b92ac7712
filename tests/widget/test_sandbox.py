"""The widget against the MoySklad sandbox: the ERP number comes back on the fast path; stale stock is answered
at once and refreshed by a queued task (once, however many managers ask), or inline with `fresh`."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from django_q.models import OrmQ

from catalog.models import Pack, Product, StockLevel, Warehouse
from counterparties.models import Counterparty
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.stock_sync import sync_stock
from orders import actions
from tests.erp.conftest import backend, entities, ms, ms_sandbox  # noqa: F401 — fixtures
from tests.integration_core.conftest import child_env, children  # noqa: F401 — fixtures
from tests.widget.conftest import WidgetClient

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


def test_stale_stock_is_refreshed_inline_when_the_caller_asks_fresh(catalog, manager):
    cable = Product.objects.get(article="VVGNG-3X2.5")
    old = timezone.now() - timedelta(hours=2)
    StockLevel.objects.filter(product=cable).update(snapshot_at=old)
    found = manager.get(f"{BASE}/products", {"q": "VVGNG-3X2.5", "fresh": "1"}).json()["results"][0]
    assert found["stock"]["stale"] is False
    assert StockLevel.objects.filter(product=cable, snapshot_at__gt=old).exists()
    catalog.paused = True  # the ERP can't be asked: the stock is shown, flagged stale, nothing queued
    catalog.save()
    StockLevel.objects.filter(product=cable).update(snapshot_at=old)
    for params in ({"fresh": "1"}, {}):
        body = manager.get(f"{BASE}/products", {"q": "VVGNG-3X2.5", **params}).json()
        assert body["results"][0]["stock"]["stale"] is True and body["refresh_queued"] is False
    assert not Product.objects.filter(stock_refresh_requested_at__isnull=False).exists()


def test_stale_stock_is_answered_at_once_and_refreshed_once_off_the_request_path(catalog, amo, children):  # noqa: F811
    cable = Product.objects.get(article="VVGNG-3X2.5")
    old = timezone.now() - timedelta(hours=2)
    StockLevel.objects.filter(product=cable).update(snapshot_at=old)

    def search(_n):  # 8 managers at once, each with a client (and a connection) of their own
        try:
            return WidgetClient(amo, 500 + _n).get(f"{BASE}/products", {"q": "VVGNG-3X2.5"}).json()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(search, range(8)))
    for body in answers:  # the old snapshot, flagged, and a refresh under way
        assert body["results"][0]["stock"]["stale"] is True and body["refresh_queued"] is True
    assert StockLevel.objects.filter(product=cable, snapshot_at__gt=old).count() == 0  # not refreshed inline
    waiting = Product.objects.filter(stock_refresh_requested_at__isnull=False)
    assert list(waiting.values_list("pk", flat=True)) == [cable.pk]
    assert OrmQ.objects.count() == 1  # one refresh queued for the 8 readers
    children.manage("qcluster", env=child_env())
    deadline = time.monotonic() + 60
    while waiting.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    found = WidgetClient(amo, 500).get(f"{BASE}/products", {"q": "VVGNG-3X2.5"}).json()
    assert found["results"][0]["stock"]["stale"] is False and found["refresh_queued"] is False
    assert not waiting.exists()
