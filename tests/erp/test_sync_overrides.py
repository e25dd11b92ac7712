"""Issue 11 item 9: every sync that writes a synced field keeps the values staff pinned (overrides),
records a conflict when the ERP disagrees, loads the pins once per batch, and still skips unchanged rows."""

import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Price, Product, StockLevel, Warehouse
from integration.erp.moysklad.catalog_sync import sync_catalog, sync_prices, sync_warehouses
from integration.erp.moysklad.stock_sync import sync_stock
from integration.erp.moysklad.webhooks import process_webhook
from integration.models import Conflict, InboxMessage, Override, SyncRun
from integration.overrides import lift_override, pin_value

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="x", is_staff=True)


def _conflict(obj, field: str) -> Conflict:
    return Conflict.objects.get(object_id=obj.pk, field=field, content_type__model=obj._meta.model_name)


def _event(ms, kind: str, entity_id: str) -> dict:
    """A MoySklad webhook body: one UPDATE of one entity."""
    href = f"{ms.url}/api/remap/1.2/entity/{kind}/{entity_id}"
    return {"events": [{"meta": {"type": kind, "href": href}, "action": "UPDATE", "accountId": "acc"}]}


def _override_queries(ctx) -> int:
    return sum('"integration_override"' in q["sql"] for q in ctx.captured_queries)


def test_catalog_sync_and_product_webhook_keep_a_pinned_name(backend, ms, staff):
    sync_catalog(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    pin = pin_value(cable, "name", "Кабель ВВГ (наш)", author=staff, reason="так называют клиенты")
    ms.control(
        "moysklad/product",
        {"article": "VVGNG-3X2.5", "name": "Кабель ВВГнг новый", "prices": {"Розничная": "99.90"}},
    )
    run = sync_catalog(backend)
    assert run.status == SyncRun.Status.SUCCEEDED and run.updated == 1
    cable.refresh_from_db()
    assert cable.name == "Кабель ВВГ (наш)"  # pinned
    assert Price.objects.get(product=cable, price_list__code="retail").amount == Decimal("99.90")  # not pinned
    conflict = _conflict(cable, "name")
    assert (conflict.erp_value, conflict.crm_value) == ("Кабель ВВГнг новый", "Кабель ВВГ (наш)")
    assert (conflict.policy, conflict.status, conflict.occurrences) == ("override", "open", 1)

    again = sync_catalog(backend)  # nothing changed since: skipped as unchanged, no second conflict
    assert again.updated == 0 and again.unchanged >= 1
    assert _conflict(cable, "name").occurrences == 1

    # The product webhook (stored by the endpoint, handled by the inbox worker) goes through the same writer.
    ms.control("moysklad/product", {"article": "VVGNG-3X2.5", "name": "Кабель ВВГнг ещё новее"})
    response = Client().post(
        "/hooks/moysklad/hook-secret-1/?requestId=pin-1",
        json.dumps(_event(ms, "product", cable.erp_id)),
        content_type="application/json",
    )
    assert response.status_code == 200
    process_webhook(InboxMessage.objects.get(message_id="pin-1"))
    cable.refresh_from_db()
    assert cable.name == "Кабель ВВГ (наш)"
    assert Conflict.objects.filter(object_id=cable.pk, field="name", erp_value="Кабель ВВГнг ещё новее").exists()

    # Lifted: the next run restores the ERP's value although the ERP itself did not change.
    lift_override(pin, user=staff, reason="больше не нужно")
    restored = sync_catalog(backend)
    assert restored.updated == 1
    cable.refresh_from_db()
    assert cable.name == "Кабель ВВГнг ещё новее"


def test_prices_sync_keeps_a_pinned_price(backend, ms, staff):
    sync_catalog(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    retail = Price.objects.get(product=cable, price_list__code="retail")
    pin_value(retail, "amount", "90.00", author=staff, reason="акция до конца месяца")
    ms.control("moysklad/product", {"article": "VVGNG-3X2.5", "prices": {"Розничная": "99.90", "Оптовая": "80.00"}})
    run = sync_prices(backend)
    assert run.status == SyncRun.Status.SUCCEEDED and run.updated == 1  # only the wholesale price
    assert Price.objects.get(pk=retail.pk).amount == Decimal("90.00")
    assert Price.objects.get(product=cable, price_list__code="wholesale").amount == Decimal("80.00")
    conflict = _conflict(retail, "amount")
    assert (Decimal(conflict.erp_value), Decimal(conflict.crm_value)) == (Decimal("99.90"), Decimal("90.00"))
    assert sync_prices(backend).updated == 0
    # The catalog sync writes prices too: the pin holds there as well.
    ms.control("moysklad/product", {"article": "VVGNG-3X2.5", "name": "Кабель ВВГнг (переименован)"})
    assert sync_catalog(backend).updated == 1
    assert Price.objects.get(pk=retail.pk).amount == Decimal("90.00")
    assert sync_catalog(backend).updated == 0
    # Lifted: the next catalog run counts the product as changed and restores the ERP's price.
    lift_override(Override.objects.get(object_id=retail.pk, field="amount"), user=staff)
    assert sync_catalog(backend).updated == 1
    assert Price.objects.get(pk=retail.pk).amount == Decimal("99.90")


def test_warehouses_sync_keeps_a_pinned_name(backend, ms, staff):
    sync_warehouses(backend)
    store = Warehouse.objects.get(name="Москва")
    pin_value(store, "name", "Москва, Складочная", author=staff, reason="менеджеры путают склады")
    for _ in range(2):
        assert sync_warehouses(backend).status == SyncRun.Status.SUCCEEDED
    store.refresh_from_db()
    assert store.name == "Москва, Складочная"
    conflict = _conflict(store, "name")
    assert (conflict.erp_value, conflict.crm_value, conflict.occurrences) == ("Москва", "Москва, Складочная", 2)


def test_stock_sync_keeps_a_pinned_figure(backend, ms, staff):
    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    level = StockLevel.objects.get(product=cable, warehouse__name="Москва", batch__isnull=True)
    pin_value(level, "on_hand", "7", author=staff, reason="пересчёт на складе, ERP ещё не знает")
    ms.control("moysklad/stock", {"article": "VVGNG-3X2.5", "store": "Москва", "stock": 500, "inTransit": 3})
    run = sync_stock(backend)  # incremental, from /current
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    level.refresh_from_db()
    assert (level.on_hand, level.expected) == (Decimal("7"), Decimal("3"))  # pinned; the rest applied
    conflict = _conflict(level, "on_hand")
    assert (Decimal(conflict.erp_value), Decimal(conflict.crm_value)) == (Decimal("500"), Decimal("7"))
    sync_stock(backend, full=True)
    level.refresh_from_db()
    assert level.on_hand == Decimal("7")


def test_bulk_syncs_load_the_pins_once_per_page(backend, ms, staff):
    backend.settings["page_limit"] = 100
    backend.save()
    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    for product in Product.objects.order_by("pk")[:20]:
        pin_value(product, "description", "наше описание", author=staff, reason="r")
    for level in StockLevel.objects.order_by("pk")[:20]:
        pin_value(level, "expected", "1", author=staff, reason="r")
    products, levels = Product.objects.count(), StockLevel.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        run = sync_catalog(backend, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED
    pages = -(-products // 100) + 1  # product pages and the bundles' page
    # product and price pins per page, price pins again per page with changes, reference lists once each
    assert _override_queries(ctx) <= 3 * pages + 4 < products // 10
    with CaptureQueriesContext(connection) as ctx:
        assert sync_stock(backend, full=True).status == SyncRun.Status.SUCCEEDED
    assert _override_queries(ctx) <= -(-levels // 100) * 2 + 1 < levels // 10
    assert set(StockLevel.objects.order_by("pk")[:20].values_list("expected", flat=True)) == {Decimal("1")}


def test_catalog_sync_keeps_pinned_reference_lists(backend, ms, staff):
    from catalog.models import Category, PriceList, Unit

    sync_catalog(backend, full=True)
    retail = PriceList.objects.get(code="retail")
    folder, other = Category.objects.order_by("pk")[:2]
    erp_parent = folder.parent_id
    metre = Unit.objects.get(okei_code="006")
    erp_names = (retail.name, folder.name, metre.short_name)
    pin_value(retail, "name", "Розница (сайт)", author=staff, reason="r")
    pin_value(folder, "name", "Наша группа", author=staff, reason="r")
    pin_value(folder, "parent", other.pk, author=staff, reason="перенесли группу")
    pin_value(metre, "short_name", "мп", author=staff, reason="r")
    assert sync_catalog(backend).status == SyncRun.Status.SUCCEEDED
    retail.refresh_from_db()
    folder.refresh_from_db()
    metre.refresh_from_db()
    assert (retail.name, folder.name, folder.parent_id, metre.short_name) == (
        "Розница (сайт)", "Наша группа", other.pk, "мп"
    )
    assert [_conflict(o, f).erp_value for o, f in ((retail, "name"), (folder, "name"), (metre, "short_name"))] == list(
        erp_names
    )
    assert (_conflict(folder, "parent").erp_value, _conflict(folder, "parent").crm_value) == (erp_parent, other.pk)
