"""The ERP's order flow names a merged duplicate's ERP record (not archived there yet): the lines, shipments and
returns land on the survivor the duplicate was merged into, never on the inactive duplicate."""

from decimal import Decimal as D

import pytest

from catalog.merge import merge_products
from catalog.models import Product
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.erp_changes import sync_erp_changes
from integration.reconciliation import reconcile
from orders.models import Order, ShipmentLine
from tests.reconciliation.conftest import (  # noqa: F401 - fixtures
    amo,
    amo_process,
    backend,
    ms,
    ms_sandbox,
    placed,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_erp_order_naming_a_merged_duplicate_stays_on_the_survivor(backend, ms, amo, placed):  # noqa: F811
    order, breaker = placed
    created = ms.control("moysklad/product/new", {"name": "Выключатель C16 (дубль)", "article": "DUP-C16",
                                                   "like": breaker.article})
    assert sync_catalog(backend).failed == 0
    dup = Product.objects.get(erp_id=created["id"])
    merge_products(breaker, [dup], reason="один товар заведён дважды")
    assert sync_erp_changes(backend).failed == 0
    line = order.lines.get()
    price = int(line.base_price * 100)

    # In the ERP a manager picks the duplicate's record for the order's position, then it ships and 1 comes back.
    ms.control(f"moysklad/order/{order.erp_id}/positions", {"positions": [
        {"product": created["id"], "quantity": 3, "price": price, "reserve": 3, "vat": 22}]})
    demand = ms.control("moysklad/demand", {"order": order.erp_id})
    ms.control("moysklad/salesreturn", {"demand": demand["id"], "positions": [1]})
    run = sync_erp_changes(backend)
    assert run.failed == 0, run.details

    order = Order.objects.get(pk=order.pk)
    assert [(x.product_id, x.base_quantity, x.shipped_quantity, x.returned_quantity) for x in order.lines.all()] == [
        (breaker.pk, D("3"), D("3"), D("1"))]
    assert not ShipmentLine.objects.filter(product=dup).exists()
    dup.refresh_from_db()
    assert not dup.active and dup.merged_into_id == breaker.pk
    assert [d for d in reconcile(backend=backend).drifts if d.area == "order"] == []  # the same goods, both sides
