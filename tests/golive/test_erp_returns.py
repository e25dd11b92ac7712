"""Returns and replacements from the ERP, as they run: a MoySklad sales return against a demand makes the return
document by itself, a replacement shipped in another demand appears among the order's lines, and the deal shows
what the client keeps (sold − returned). Real sandboxes (MoySklad, amoCRM), the `erp_changes` sync and the relay."""

from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from catalog.models import Product
from documents.models import Document
from documents.returns import order_net_figures
from integration.amocrm.catalog_push import ensure_elements
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import note_language
from integration.amocrm.mappers import NET_TOTAL, lead_snapshot, values_by_code
from integration.erp.importers.organization import sync_organization
from integration.erp.moysklad.erp_changes import sync_erp_changes
from integration.reconciliation import reconcile
from orders.models import Order, Shipment
from tests.erp.conftest import raw
from tests.reconciliation.conftest import (  # noqa: F401 - fixtures
    amo,
    amo_process,
    backend,
    ms,
    ms_sandbox,
    placed,
    settle,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _ref(row: dict) -> dict:
    return {"meta": row["meta"]}


def _ship_replacement(ms, order_erp_id: str, product: Product, quantity: int, price_kopecks: int) -> dict:  # noqa: F811
    """A warehouse user ships another product against the same customer order (MoySklad API, POST demand)."""
    status, _, erp_order = raw(ms, "GET", f"/entity/customerorder/{order_erp_id}")
    assert status == 200, erp_order
    status, _, assortment = raw(ms, "GET", f"/entity/{'service' if product.kind == 'service' else 'product'}/"
                                           f"{product.erp_id}")
    assert status == 200, assortment
    status, _, demand = raw(ms, "POST", "/entity/demand", body={
        "organization": _ref(erp_order["organization"]), "agent": _ref(erp_order["agent"]),
        "store": _ref(erp_order["store"]), "customerOrder": _ref(erp_order),
        "positions": [{"quantity": quantity, "price": price_kopecks, "vat": 22, "assortment": _ref(assortment)}],
    })
    assert status == 200, demand
    return demand


def _deal(amo) -> tuple[dict, list[str]]:  # noqa: F811
    client = AmoCrmClient(amo.backend)
    lead = client.get_lead(amo.lead_id)
    fields = {code: values[0] for code, values in values_by_code(lead["custom_fields_values"]).items() if values}
    notes = [n.get("params", {}).get("text", "") for n in client.notes("leads", amo.lead_id, "common")]
    return fields, notes


def test_a_sales_return_and_a_replacement_from_the_erp_roll_up_into_the_order_the_document_and_the_deal(
    backend, ms, amo, placed  # noqa: F811
):
    order, breaker = placed
    sync_organization(backend)  # our requisites, as the ERP has them: documents can be rendered
    demand = ms.control("moysklad/demand", {"order": order.erp_id})  # all 3 breakers leave the store
    assert sync_erp_changes(backend).failed == 0
    price = order.lines.get().price

    # The client brings 1 breaker back; the company ships a lamp in its place (another demand of the order).
    sales_return = ms.control("moysklad/salesreturn", {"demand": demand["id"], "positions": [1]})
    lamp = Product.objects.filter(kind=Product.Kind.GOODS, active=True).exclude(pk=breaker.pk).exclude(
        erp_id="").first()
    replacement = _ship_replacement(ms, order.erp_id, lamp, 1, 43000)
    run = sync_erp_changes(backend)
    assert run.failed == 0, run.details
    settle()

    back = Shipment.objects.get(erp_id=sales_return["id"])
    assert back.is_return and back.order_id == order.pk
    document = Document.objects.get(shipment=back)  # made by the sync itself, nobody asked for it
    assert (document.kind, document.status) == (Document.Kind.RETURN, Document.Status.ISSUED)
    assert document.total == price and document.number == sales_return["name"]

    order = Order.objects.get(pk=order.pk)
    lines = {line.product_id: line for line in order.lines.all()}
    assert set(lines) == {breaker.pk, lamp.pk}  # the replacement is one of the order's lines now
    assert (lines[lamp.pk].base_quantity, lines[lamp.pk].shipped_quantity, lines[lamp.pk].price) == (
        D("1"), D("1"), D("430.00"))
    assert (lines[breaker.pk].shipped_quantity, lines[breaker.pk].returned_quantity) == (D("3"), D("1"))
    assert Shipment.objects.filter(order=order, erp_id=replacement["id"], is_return=False).exists()
    net = order_net_figures(order)
    assert net.total == 3 * price - price + D("430.00") and net.returned_total == price

    fields, notes = _deal(amo)
    assert D(fields[NET_TOTAL]) == net.total  # the deal shows what the client keeps
    deal_products = {p.element_id: p.quantity for p in
                     lead_snapshot(AmoCrmClient(amo.backend).get_lead(amo.lead_id)).products}
    elements = ensure_elements(amo.backend, [breaker.pk, lamp.pk])  # bound already: nothing is created
    assert deal_products == {elements[breaker.pk]: D("3"), elements[lamp.pk]: D("1")}
    with translation.override(note_language(amo.backend)):
        assert any(f"{net.total:.2f}" in text for text in notes), notes

    again = sync_erp_changes(backend)  # a rerun changes nothing: one document, one replacement line
    assert again.failed == 0 and again.updated == 0, again.details
    assert Document.objects.filter(shipment=back).count() == 1
    assert Order.objects.get(pk=order.pk).lines.count() == 2

    # Later the ERP's order changes (its positions list only the breakers): the replacement line stays.
    ms.control(f"moysklad/order/{order.erp_id}/state", {"name": "Доставлен"})
    moved = sync_erp_changes(backend)
    assert moved.failed == 0 and moved.updated == 1, moved.details
    order = Order.objects.get(pk=order.pk)
    assert order.erp_state == "Доставлен"
    assert {line.product_id: line.shipped_quantity for line in order.lines.all()} == {breaker.pk: D("3"),
                                                                                    lamp.pk: D("1")}
    assert order_net_figures(order).total == net.total
    drifts = [d for d in reconcile(backend=backend).drifts if d.area == "order"]
    assert drifts == []  # the replacement is no drift from the ERP's order


def test_the_return_webhook_makes_the_return_document(backend, ms, amo, placed, live_server):  # noqa: F811
    order, breaker = placed
    sync_organization(backend)
    call_command("moysklad_setup", "moysklad", "--public-url", live_server.url, stdout=StringIO())
    demand = ms.control("moysklad/demand", {"order": order.erp_id})
    sales_return = ms.control("moysklad/salesreturn", {"demand": demand["id"], "positions": [2]})
    assert ms.control("moysklad/webhooks/drain", {"timeout": 20})["counts"].get("delivered", 0) >= 2
    settle()  # the worker: the inbox (the demand, then the return), then the relay to the deal

    document = Document.objects.get(shipment__erp_id=sales_return["id"])
    price = order.lines.get().price
    assert (document.kind, document.status, document.total) == (Document.Kind.RETURN, Document.Status.ISSUED,
                                                                2 * price)
    net = order_net_figures(Order.objects.get(pk=order.pk))
    assert net.returned == D("2") and net.total == price
    fields, _ = _deal(amo)
    assert D(fields[NET_TOTAL]) == price
