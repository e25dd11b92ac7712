"""Orders through the real outbox relay against the 1C sandbox: ERP down → queued → delivered once with its
reserve, exactly once after a lost response, 1C wins on composition, cancel, and documents/payments back."""

from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from catalog.models import Product, Warehouse
from counterparties.models import Counterparty
from documents import actions as document_actions
from documents.models import Document, Payment
from integration import relay
from integration.models import OutboxEvent
from integration.sandbox.demo_company import demo_company
from integration.sandbox.management.commands.load_demo import load_company
from integration.syncs import run_sync
from orders import actions
from orders.models import Order, Shipment
from orders.types import Actor, CartLine
from tests.onec.conftest import entities

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ADMIN = Actor(source="admin")
ORDERS = "Document_ЗаказКлиента"


@pytest.fixture
def company(backend):
    load_company(demo_company())
    return backend


def _reserved(onec, product: Product, warehouse: Warehouse) -> Decimal:
    path = "onec/balance/" + quote("AccumulationRegister_СвободныеОстатки") + "?dimensions=" + quote("Номенклатура,Склад")
    row = next((r for r in onec.control(path, method="GET")
                if r["Номенклатура_Key"] == product.erp_id and r["Склад_Key"] == warehouse.erp_id), None)
    return Decimal(str(row["ВРезервеСоСкладаBalance"])) if row else Decimal(0)


def _place(quantity: Decimal = Decimal(3), lead_id: int = 2001) -> tuple[Order, Product, Warehouse]:
    product = Product.objects.get(article="MVA20-1-016-C")
    warehouse = Warehouse.objects.get(name="Москва")
    customer = Counterparty.objects.filter(kind="legal").exclude(erp_id=None).order_by("pk").first()
    order = actions.get_or_create_order_for_lead(lead_id, counterparty=customer, warehouse=warehouse)
    actions.set_cart(order, [CartLine(product_id=product.pk, quantity=quantity)], actor=ADMIN)
    return Order.objects.get(pk=order.pk), product, warehouse


def _relay_due() -> int:
    OutboxEvent.objects.filter(status__in=("pending", "failed")).update(next_attempt_at=timezone.now())
    return relay.relay_once("onec-test")


def test_erp_down_then_delivered_once_with_its_reserve(onec, company):
    order, product, warehouse = _place()
    before = _reserved(onec, product, warehouse)
    onec.set_faults(down=True)
    _relay_due()
    event = OutboxEvent.objects.get(topic="erp.order.upsert")
    assert event.status != "delivered" and event.attempts == 1 and "503" in event.last_error
    assert entities(onec, ORDERS) == []

    onec.set_faults(down=False, drop_responses=1, path_regex=f"{ORDERS}$")  # then 1C commits, we hear nothing
    _relay_due()
    assert OutboxEvent.objects.get(pk=event.pk).status != "delivered"
    _relay_due()
    assert OutboxEvent.objects.get(pk=event.pk).status == "delivered"
    erp = entities(onec, ORDERS)
    assert len(erp) == 1 and erp[0]["Posted"] is True and erp[0]["НомерПоДаннымКлиента"] == str(order.uuid)
    assert _reserved(onec, product, warehouse) - before == Decimal(3)
    order.refresh_from_db()
    assert order.erp_id == erp[0]["Ref_Key"] and order.erp_number == erp[0]["Number"]


def test_1c_wins_on_composition_and_cancel_releases_the_reserve(onec, company):
    order, product, warehouse = _place(lead_id=2002)
    _relay_due()
    order.refresh_from_db()
    before = _reserved(onec, product, warehouse)
    # A 1C user edits the order: 5 instead of 3 (PATCH over OData, as a 1C client would), then reposts.
    from integration.erp.onec.client import OneCClient

    client = OneCClient(company)
    row = client.by_keys(ORDERS, [order.erp_id])[0]
    lines = [{**line, "Количество": 5, "КоличествоУпаковок": 5} for line in row["Товары"]]
    client.unpost_document(ORDERS, order.erp_id)
    client.update(ORDERS, order.erp_id, {"Товары": lines})
    client.post_document(ORDERS, order.erp_id)
    run = run_sync("orders", company)
    assert run.failed == 0, run.details
    assert [line.base_quantity for line in order.lines.all()] == [Decimal(5)]
    assert _reserved(onec, product, warehouse) - before == Decimal(2)

    actions.cancel(Order.objects.get(pk=order.pk), ADMIN)
    _relay_due()
    erp = entities(onec, ORDERS)[0]
    assert erp["DeletionMark"] is True and erp["Posted"] is False
    assert _reserved(onec, product, warehouse) == before - Decimal(3)


def test_invoice_shipment_and_payment_come_back_into_the_order(onec, company):
    assert run_sync("organization", company).updated == 1
    order, _product, _warehouse = _place(lead_id=2003)
    _relay_due()
    order.refresh_from_db()
    document = document_actions.request_document(order, "invoice", actor=ADMIN)
    _relay_due()
    document.refresh_from_db()
    invoice = entities(onec, "Document_СчетНаОплатуКлиенту")
    assert len(invoice) == 1 and document.status == Document.Status.ISSUED
    assert document.number == invoice[0]["Number"] and document.erp_id == invoice[0]["Ref_Key"]
    assert document.pdf and not document.totals_mismatch and document.erp_total == order.total

    upd = document_actions.request_document(order, "upd", actor=ADMIN)
    _relay_due()  # not shipped in 1C yet: the request waits
    upd.refresh_from_db()
    assert upd.status == Document.Status.REQUESTED
    shipment = onec.control("onec/ship", {"order": order.erp_id})
    onec.control("onec/pay", {"order": order.erp_id})
    _relay_due()
    upd.refresh_from_db()
    assert upd.status == Document.Status.ISSUED and upd.number == shipment["Number"] and upd.pdf
    run = run_sync("orders", company)
    assert run.failed == 0, run.details
    assert Shipment.objects.filter(order=order).count() == 1
    payment = Payment.objects.get(order=order)
    assert payment.amount == order.total and payment.erp_id
    run_sync("orders", company)  # polled again: nothing doubles
    assert Shipment.objects.filter(order=order).count() == 1 and Payment.objects.filter(order=order).count() == 1


def _pdf_text(document: Document) -> str:
    from io import BytesIO

    from pypdf import PdfReader

    document.pdf.open("rb")
    with document.pdf:
        return "\n".join(page.extract_text() for page in PdfReader(BytesIO(document.pdf.read())).pages)


def test_a_upd_of_a_partial_shipment_lists_what_was_shipped(onec, company):
    """1C ships 1 of 3: the УПД rendered here is of that shipment — its number, its one unit, its total (checked
    against 1C's own rows) — not of the whole order."""
    assert run_sync("organization", company).updated == 1
    order, product, _warehouse = _place(lead_id=2004)
    _relay_due()
    order.refresh_from_db()
    shipment = onec.control("onec/ship", {"order": order.erp_id, "quantities": {product.erp_id: 1}})
    assert [row["Количество"] for row in shipment["Товары"]] == [1]

    upd = document_actions.request_document(order, "upd", actor=ADMIN)
    _relay_due()
    upd.refresh_from_db()
    one = (order.total / 3).quantize(Decimal("0.01"))
    assert upd.status == Document.Status.ISSUED and upd.number == shipment["Number"]
    assert upd.erp_total == one and upd.total == one and not upd.totals_mismatch, upd.error
    assert upd.shipment is not None and upd.shipment.erp_id == shipment["Ref_Key"]
    text = _pdf_text(upd)
    assert product.name.split()[0] in text
    assert f"{order.total:,.2f}".replace(",", "\u00a0").replace(".", ",") not in text  # not the whole order's total


def test_an_order_edited_in_1c_just_before_its_invoice_is_no_document_error(onec, company):
    """A 1C user makes it 5 instead of 3 a moment before the invoice, and our order has not heard yet: 1C's invoice
    is of its order as 1C holds it, and our totals are checked on that order's rows, not on our stale copy."""
    assert run_sync("organization", company).updated == 1
    order, _product, _warehouse = _place(lead_id=2005)
    _relay_due()
    order.refresh_from_db()
    from integration.erp.onec.client import OneCClient

    client = OneCClient(company)
    row = client.by_keys(ORDERS, [order.erp_id])[0]
    lines = [{**line, "Количество": 5, "КоличествоУпаковок": 5, "Сумма": line["Сумма"] / 3 * 5,
              "СуммаНДС": line["СуммаНДС"] / 3 * 5, "СуммаСНДС": line["СуммаСНДС"] / 3 * 5} for line in row["Товары"]]
    client.unpost_document(ORDERS, order.erp_id)
    client.update(ORDERS, order.erp_id, {"Товары": lines, "СуммаДокумента": row["СуммаДокумента"] / 3 * 5})
    client.post_document(ORDERS, order.erp_id)

    document = document_actions.request_document(order, "invoice", actor=ADMIN)
    _relay_due()
    document.refresh_from_db()
    five = (order.total * 5 / 3).quantize(Decimal("0.01"))
    assert document.status == Document.Status.ISSUED and document.erp_total == five
    assert not document.totals_mismatch and document.total == five, document.error
