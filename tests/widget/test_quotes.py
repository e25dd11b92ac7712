"""Quotes (КП) from the widget: POST leads/{id}/documents with kind "quote" makes a PDF with the client's
prices, VAT, availability and the validity date, and attaches it to the deal in the amoCRM sandbox."""

from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from django.utils import timezone
from pypdf import PdfReader

from catalog.models import StockLevel
from documents.models import Document
from integration import relay
from integration.outbox import load_handler_modules
from orders import actions
from tests.documents.factories import make_our_organization

from .test_api import BASE, shop  # noqa: F401 - fixture

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def test_a_quote_from_the_widget_has_the_clients_prices_vat_stock_and_validity_and_goes_to_the_deal(
        manager, shop, deal, sandbox):  # noqa: F811
    make_our_organization()
    lead = deal()
    actions.get_or_create_order_for_lead(lead, counterparty=shop["client"])  # a wholesale client
    cart = {"lines": [{"product": shop["drill"].pk, "quantity": "5", "warehouse": shop["main"].pk},
                      {"product": shop["saw"].pk, "quantity": "1", "warehouse": shop["main"].pk}]}
    assert manager.put(f"{BASE}/leads/{lead}/order", cart).status_code == 200
    StockLevel.objects.filter(product=shop["drill"], warehouse=shop["main"]).update(on_hand=3)  # sold elsewhere
    until = timezone.localdate() + timedelta(days=10)

    response = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "quote", "valid_until": until.isoformat()})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "quote" and body["status"] == "issued" and body["valid_until"] == until.isoformat()
    pdf = manager.get(body["pdf_url"], HTTP_ACCEPT="application/pdf")
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(b"".join(pdf.streaming_content))).pages)
    text = " ".join(text.split())
    assert "Коммерческое предложение" in text
    assert "900,00" in text and "4 500,00" in text and "450,00" in text  # the wholesale segment's prices, not retail's 1000/500
    assert "22%" in text and "10%" in text and "В том числе НДС" in text
    assert "в наличии 3 шт" in text  # 3 drills of the 5 (3 left at Main, held by this order)
    assert "в наличии" in text.replace("в наличии 3 шт", "")  # the saw this order holds
    assert f"действительны до {until.day}" in text and str(until.year) in text

    load_handler_modules()
    while relay.relay_once("test"):
        pass
    document = Document.objects.get(pk=body["id"])
    assert document.crm_file_uuid  # the PDF is on the deal in amoCRM
    assert document.total == Decimal("4950.00")  # 5 × 900 + 450


def test_a_quote_cannot_hold_until_the_past_and_only_a_quote_has_a_validity(manager, shop, deal):  # noqa: F811
    make_our_organization()
    lead = deal()
    manager.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1"}]})
    past = (timezone.localdate() - timedelta(days=1)).isoformat()

    late = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "quote", "valid_until": past})
    invoice = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "invoice", "valid_until": past})

    assert late.status_code == 400 and list(late.json()["errors"]) == ["valid_until"]
    assert invoice.status_code == 400 and list(invoice.json()["errors"]) == ["valid_until"]
    assert not Document.objects.exists()


def test_a_quote_without_our_requisites_is_refused_on_supplier_and_kept_as_failed(manager, shop, deal):  # noqa: F811
    lead = deal()
    manager.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1"}]})

    response = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "quote"})

    assert response.status_code == 400 and list(response.json()["errors"]) == ["supplier"]
    assert Document.objects.get().status == Document.Status.FAILED
