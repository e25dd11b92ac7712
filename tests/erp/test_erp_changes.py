"""The `erp_changes` sync: ERP changes whose webhooks were lost (orders, demands, payments, returns) are applied
by change cursor through the webhook handler's functions; a second run changes nothing."""

from datetime import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from catalog.models import Product, Warehouse
from counterparties.models import Counterparty
from documents.actions import request_document
from documents.models import Payment
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import note_language, shipment_label
from integration.amocrm.handlers import deliver_lead_products, deliver_lead_sync
from integration.amocrm.mappers import ERP_NUMBER, PAYMENT_STATUS, SHIPMENT_STATUS, values_by_code
from integration.erp import order_handlers
from integration.erp.moysklad import handlers, mappers
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.cursors import get_cursor
from integration.erp.moysklad.erp_changes import sync_erp_changes
from integration.erp.moysklad.stock_sync import sync_stock
from integration.models import Backend, Conflict, OutboxEvent
from integration.schedules import specs
from integration.syncs import run_scheduled
from orders import actions
from orders.models import Order, Shipment
from orders.types import Actor, CartLine
from tests.erp.conftest import entities, raw
from tests.reconciliation.conftest import amo, amo_process  # noqa: F401 - fixtures (amoCRM, webhooks lost)

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ADMIN = Actor(source="admin")
DEAD_URL = "http://127.0.0.1:9"  # nothing listens: every delivery is lost


@pytest.fixture
def placed(backend, ms, amo):  # noqa: F811
    """An order of ours for the deal, in the ERP (3 breakers)."""
    sync_catalog(backend, full=True)
    sync_stock(backend, full=True)
    erp = entities(ms, "counterparty", "companyType=legal")[0]
    customer = Counterparty.objects.create(kind="legal", name=erp["name"], inn=erp["inn"], kpp=erp["kpp"])
    breaker = Product.objects.get(article="MVA20-1-016-C")
    order = actions.get_or_create_order_for_lead(amo.lead_id, counterparty=customer, warehouse=Warehouse.objects.get(
        name="Москва"))
    actions.set_cart(order, [CartLine(product_id=breaker.pk, quantity=Decimal("3"))], actor=ADMIN)
    event = OutboxEvent.objects.filter(topic="erp.order.upsert", aggregate_id=str(order.pk)).latest("pk")
    order_handlers.upsert_order(event)
    return Order.objects.get(pk=order.pk), breaker


def _deal(amo) -> dict:  # noqa: F811
    """Deliver the deal's latest events as the relay would, then read the deal from amoCRM."""
    for topic, deliver in (("crm.lead.products", deliver_lead_products), ("crm.lead.sync", deliver_lead_sync)):
        event = OutboxEvent.objects.filter(topic=topic).order_by("pk").last()
        if event is not None:
            deliver(event)
    lead = AmoCrmClient(amo.backend).get_lead(amo.lead_id)
    return {code: values[0] for code, values in values_by_code(lead["custom_fields_values"]).items() if values}


def _state(order):
    order.refresh_from_db()
    return {
        "lines": sorted((line.product_id, line.base_quantity, line.shipped_quantity, line.returned_quantity)
                        for line in order.lines.all()),
        "erp_updated_at": order.erp_updated_at,
        "status": order.status,
        "payment_status": order.payment_status,
        "shipments": sorted(Shipment.objects.filter(order=order).values_list("erp_id", "is_return")),
        "payments": sorted(Payment.objects.filter(order=order).values_list("erp_id", "amount")),
        "conflicts": Conflict.objects.count(),
        "deal_events": OutboxEvent.objects.filter(topic__startswith="crm.lead", aggregate_id=str(order.pk)).count(),
    }


def test_lost_webhooks_are_recovered_by_the_erp_changes_sync_and_a_rerun_changes_nothing(backend, ms, amo, placed):  # noqa: F811
    order, breaker = placed
    call_command("moysklad_setup", "moysklad", "--public-url", DEAD_URL, stdout=StringIO())
    first = sync_erp_changes(backend)  # sets the cursors; our order is already up to date
    assert first.failed == 0 and first.updated == 0, first.details
    before = _state(order)

    # In the ERP: a manager cuts the order to 2 breakers, the warehouse ships them, the bank pays, 1 comes back.
    ms.control(f"moysklad/order/{order.erp_id}/positions",
               {"positions": [{"product": breaker.erp_id, "quantity": 2, "price": 50000, "reserve": 2, "vat": 22}]})
    demand = ms.control("moysklad/demand", {"order": order.erp_id})
    payment = ms.control("moysklad/payment", {"order": order.erp_id})
    sales_return = ms.control("moysklad/salesreturn", {"demand": demand["id"], "positions": [1]})
    drained = ms.control("moysklad/webhooks/drain", {"timeout": 20})
    assert drained["counts"]["dropped"] >= 4 and drained["counts"].get("delivered", 0) == 0  # all lost

    run = sync_erp_changes(backend)
    assert run.failed == 0, run.details
    assert run.updated == 4  # the order, the demand, the payment, the return
    after = _state(order)
    assert after["lines"] == [(breaker.pk, Decimal("2.000"), Decimal("2.000"), Decimal("1.000"))]
    assert after["shipments"] == sorted([(demand["id"], False), (sales_return["id"], True)])
    assert after["payments"] == [(payment["id"], Decimal(str(payment["sum"] / 100)).quantize(Decimal("0.01")))]
    assert after["erp_updated_at"] > before["erp_updated_at"]
    assert after["conflicts"] > before["conflicts"]  # the ERP won: the difference is recorded
    assert after["deal_events"] > before["deal_events"]  # the deal is told (products and status)
    deal = _deal(amo)
    with translation.override(note_language(amo.backend)):
        assert deal[PAYMENT_STATUS] == str(Order.PaymentStatus.PAID.label)
        assert deal[ERP_NUMBER] == Order.objects.get(pk=order.pk).erp_number
        assert deal[SHIPMENT_STATUS] == str(shipment_label(Order.objects.get(pk=order.pk)))

    settled = _state(order)  # the deal's products were rewritten (that records its own conflict)
    again = sync_erp_changes(backend)
    assert again.failed == 0 and again.updated == 0 and again.unchanged >= 4, again.details
    assert _state(order) == settled


def test_a_failed_record_holds_the_cursor_and_is_retried(backend, ms, placed):
    order, breaker = placed
    sync_erp_changes(backend)
    Product.objects.filter(pk=breaker.pk).update(erp_id="gone")  # the order's product is not in our catalog
    cursor_before = Backend.objects.get(pk=backend.pk).cursors["moysklad.erp_changes.customerorder"]
    ms.control(f"moysklad/order/{order.erp_id}/positions",
               {"positions": [{"product": breaker.erp_id, "quantity": 5, "price": 50000, "reserve": 5, "vat": 22}]})
    run = sync_erp_changes(backend)
    assert run.failed == 1 and "customerorder" in run.details["errors"][0]
    # The cursor stops at the failed order (not past it), so it is listed again.
    failed_at = mappers.moment(entities(ms, "customerorder")[0]["updated"])
    cursor = get_cursor(backend, "moysklad.erp_changes.customerorder")
    assert cursor == failed_at and cursor > datetime.fromisoformat(cursor_before)
    Product.objects.filter(pk=breaker.pk).update(erp_id=breaker.erp_id)
    retried = sync_erp_changes(backend)
    assert retried.failed == 0, retried.details
    assert order.lines.get().base_quantity == Decimal("5")


def test_erp_changes_and_catalog_push_are_scheduled(backend, ms):
    schedules = {s.func: s for s in specs()}
    assert schedules["integration.tasks.sync_erp_changes"].minutes == schedules["integration.tasks.refresh_stock"].minutes
    assert "integration.tasks.push_crm_catalog" in schedules
    assert "integration.tasks.sync_counterparties" in schedules
    outcome = run_scheduled("erp_changes")
    assert list(outcome) == ["moysklad"] and outcome["moysklad"].startswith("succeeded")


def test_an_invoice_edited_in_the_erp_is_taken_again(backend, ms, amo, placed):  # noqa: F811
    order, _ = placed
    document = request_document(order, "invoice", actor=ADMIN)
    handlers.request_document(OutboxEvent.objects.get(topic="erp.document.request"))
    document.refresh_from_db()
    assert sync_erp_changes(backend).failed == 0
    status, _, _ = raw(ms, "PUT", f"/entity/invoiceout/{document.erp_id}", body={"name": "СЧ-0077"})
    assert status == 200

    run = sync_erp_changes(backend)

    assert (run.updated, run.failed) == (1, 0), run.details
    document.refresh_from_db()
    assert document.number == "СЧ-0077" and document.status == "issued" and document.pdf.read().startswith(b"%PDF-")
    again = sync_erp_changes(backend)
    assert (again.updated, again.failed) == (0, 0) and again.unchanged >= 2, again.details
