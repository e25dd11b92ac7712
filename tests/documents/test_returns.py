"""Returns by quantity: a partial return's document lists only what came back (with its share of the amounts);
the order's lines and net total roll the return up; a replacement keeps one order with both movements."""

from decimal import Decimal as D
from io import BytesIO

import pytest
from django.utils import timezone
from pypdf import PdfReader

from documents.actions import request_return_document
from documents.errors import InvalidInput
from documents.models import Document
from documents.returns import order_net_figures
from orders.actions import register_return, register_shipment
from orders.models import Order
from orders.types import Actor, ShipmentInput, ShipmentLineInput

from .factories import make_order, make_our_organization, make_product

pytestmark = pytest.mark.django_db
ADMIN = Actor(source="admin")


def movement(*items, erp_id=None):
    return ShipmentInput(shipped_at=timezone.now(), erp_id=erp_id,
                         lines=[ShipmentLineInput(product_id=p.pk, quantity_base=D(q)) for p, q in items])


def pdf_text(document: Document) -> str:
    with document.pdf.open("rb") as stored:
        pages = PdfReader(BytesIO(stored.read())).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


@pytest.fixture
def shipped():
    make_our_organization()
    order = make_order([("Кабель ВВГ", "10", "100.00", "22"), ("Лампа LED", "4", "50.00", "10")])
    cable, lamp = (line.product for line in order.lines.order_by("position"))
    register_shipment(order, movement((cable, "10"), (lamp, "4"), erp_id="demand-1"))
    return order, cable, lamp


def test_a_partial_return_document_lists_only_what_came_back(shipped):
    order, cable, lamp = shipped
    back = register_return(order, movement((cable, "3"), erp_id="salesreturn-1"))

    document = request_return_document(back, actor=ADMIN)

    cable_line = order.lines.get(product=cable)
    assert document.kind == Document.Kind.RETURN and document.status == Document.Status.ISSUED
    assert document.total == D("300.00")
    assert document.vat_total == (cable_line.vat_amount * 3 / 10).quantize(D("0.01"))
    text = pdf_text(document)
    assert "Кабель ВВГ" in text and "Лампа LED" not in text
    assert "300,00" in text and "1 000,00" not in text and "1 200,00" not in text
    assert request_return_document(back, actor=ADMIN) == document  # one document per return movement
    assert cable_line.returned_quantity == D("3")
    net = order_net_figures(Order.objects.get(pk=order.pk))
    assert (net.returned, net.returned_total, net.total) == (D("3"), D("300.00"), D("900.00"))
    assert Order.objects.get(pk=order.pk).status == Order.Status.SHIPPED  # partly returned, still shipped


def test_a_replacement_keeps_one_order_with_both_movements_and_rolls_up_the_return(shipped):
    order, cable, lamp = shipped
    spare = make_product("LMP-2", "Лампа LED, другая модель")
    back = register_return(order, movement((lamp, "1"), erp_id="salesreturn-2"))
    out = register_shipment(order, movement((spare, "1"), erp_id="demand-2"))

    document = request_return_document(back, actor=ADMIN)

    assert {m.pk for m in order.shipments.all()} >= {back.pk, out.pk}
    assert [(s.is_return, [line.product_id for line in s.lines.all()]) for s in (back, out)] == [
        (True, [lamp.pk]), (False, [spare.pk])]
    assert document.total == D("50.00")
    net = order_net_figures(Order.objects.get(pk=order.pk))
    assert net.total == D("1150.00") and net.returned == D("1")
    with pytest.raises(InvalidInput):
        request_return_document(out, actor=ADMIN)  # a shipment has no return document
