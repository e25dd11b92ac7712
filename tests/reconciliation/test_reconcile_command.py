"""`manage.py reconcile`: drift made behind our back in the sandboxes (stock, a price, an order line, a payment,
the deal's stage and products) is listed with both values; `--repair` repairs it and journals each repair;
the next run finds nothing."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Price, StockLevel
from documents.actions import request_document
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.mappers import PAYMENT_STATUS
from integration.conflicts import resolve_conflict
from integration.models import Binding, Conflict, JournalEntry
from integration.overrides import pin_value
from integration.reconciliation import reconcile
from tests.amocrm.conftest import as_manager
from tests.erp.conftest import raw

from .conftest import ADMIN, DEAD_URL, settle

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NEW_STAGE, PAID_STAGE = 3177729, 3177732  # «Новая заявка», «Оплачен» in the sandbox's pipeline


def _report(*args) -> dict:
    out = StringIO()
    call_command("reconcile", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def _by_area(report: dict) -> dict[str, list[dict]]:
    areas: dict[str, list[dict]] = {}
    for drift in report["drifts"]:
        areas.setdefault(drift["area"], []).append(drift)
    return areas


def test_a_settled_week_has_no_drift(backend, ms, amo, placed):
    report = _report()
    assert report["drifts"] == [], report["drifts"]
    assert report["repaired"] == 0
    for area in ("stock", "price", "binding", "order", "deal"):
        assert report["checked"].get(area, 0) > 0, report["checked"]


def test_drift_behind_our_back_is_shown_repaired_journaled_and_gone(backend, ms, amo, placed):
    order, breaker = placed
    call_command("moysklad_setup", "moysklad", "--public-url", DEAD_URL, stdout=StringIO())
    assert reconcile().drifts == []

    # Behind our back, in the ERP: stock counted again, a price changed, the order cut to 2, a payment.
    ms.control("moysklad/stock", {"article": "MVA20-1-016-C", "store": "Москва", "stock": 777})
    ms.control("moysklad/product", {"article": "MVA20-1-016-C", "prices": {"Розничная": "612.34"}})
    ms.control(f"moysklad/order/{order.erp_id}/positions",
               {"positions": [{"product": breaker.erp_id, "quantity": 2, "price": 50000, "reserve": 2, "vat": 22}]})
    payment = ms.control("moysklad/payment", {"order": order.erp_id})
    demand = ms.control("moysklad/demand", {"order": order.erp_id})
    ms.control("moysklad/webhooks/drain", {"timeout": 20})  # every webhook is lost (nobody listens)
    # ...and in amoCRM: a manager drags the deal to another stage and removes its products.
    lead = as_manager(amo.sandbox, "GET", f"/api/v4/leads/{amo.lead_id}?with=catalog_elements")
    elements = lead["_embedded"]["catalog_elements"]
    assert elements
    as_manager(amo.sandbox, "POST", f"/api/v4/leads/{amo.lead_id}/unlink", [
        {"to_entity_id": e["id"], "to_entity_type": "catalog_elements",
         "metadata": {"catalog_id": e["metadata"]["catalog_id"]}} for e in elements])

    found = _by_area(_report())
    stock = next(d for d in found["stock"] if d["key"].startswith("MVA20-1-016-C @ Москва"))
    assert "on hand 775" in stock["erp"] and "on hand 775" not in stock["platform"]  # 777 counted, 2 shipped
    price = found["price"][0]
    assert price["key"].startswith("MVA20-1-016-C") and price["erp"] == "612.34" and price["platform"] != "612.34"
    line = found["order"][0]
    assert "MVA20-1-016-C: 2 × 500" in line["erp"] and "MVA20-1-016-C: 3 ×" in line["platform"]
    pay = found["payment"][0]
    assert pay["erp"] == format(payment["sum"] / 100, "g") and pay["platform"] == "—"
    shipment = found["shipment"][0]
    assert demand["name"] in shipment["erp"] and shipment["platform"] == "—"
    products = next(d for d in found["deal"] if d["key"].endswith("products"))
    assert products["crm"] == "—" and "× 3" in products["platform"]
    assert all(d["cause"] and not d["repaired"] for d in sum(found.values(), []))

    repaired = _report("--repair")
    assert repaired["repaired"] >= 6 and all(d["repaired"] for d in repaired["drifts"]), repaired["drifts"]
    entries = JournalEntry.objects.filter(method="REPAIR")
    assert entries.count() == repaired["repaired"]
    assert entries.filter(url__startswith="reconcile://price/MVA20-1-016-C").exists()
    settle()  # the deal's re-push goes out through the outbox

    again = _report()
    assert again["drifts"] == [], again["drifts"]


def test_a_deal_dragged_back_and_edited_in_amocrm_is_pushed_again(backend, ms, amo, placed):
    order, _breaker = placed
    ms.control("moysklad/payment", {"order": order.erp_id})  # paid in full; its webhook reaches us
    _report("--repair")  # (here the webhook is lost: the reconciliation brings the payment)
    settle()
    lead = as_manager(amo.sandbox, "GET", f"/api/v4/leads/{amo.lead_id}")
    assert lead["status_id"] == PAID_STAGE
    assert _report()["drifts"] == []

    # A manager drags the deal back to «Новая заявка» and overwrites the payment field; the webhook is lost.
    payment_field = next(f["field_id"] for f in lead["custom_fields_values"] if f["field_code"] == PAYMENT_STATUS)
    as_manager(amo.sandbox, "PATCH", f"/api/v4/leads/{amo.lead_id}", {
        "status_id": NEW_STAGE, "custom_fields_values": [{"field_id": payment_field, "values": [{"value": "нет"}]}]})

    drift = _report()["drifts"]
    assert [d["area"] for d in drift] == ["deal"]
    assert f"{PAYMENT_STATUS}=нет" in drift[0]["crm"] and f"stage {NEW_STAGE}" in drift[0]["crm"]
    assert f"stage {PAID_STAGE}" in drift[0]["platform"] and drift[0]["cause"]

    assert _report("--repair")["repaired"] == 1
    settle()
    assert as_manager(amo.sandbox, "GET", f"/api/v4/leads/{amo.lead_id}")["status_id"] == PAID_STAGE
    assert _report()["drifts"] == []


def test_what_cannot_be_repaired_safely_becomes_an_open_conflict(backend, ms, amo, placed):
    order, _breaker = placed
    customer = order.counterparty
    status, _headers, _body = raw(ms, "PUT", f"/entity/counterparty/{customer.erp_id}", body={"inn": "7707083893"})
    assert status == 200

    drift = _report("--repair")["drifts"]
    assert [(d["area"], d["repaired"]) for d in drift] == [("binding", False)]
    assert "7707083893" in drift[0]["erp"] and customer.inn in drift[0]["platform"]
    conflict = Conflict.objects.get(object_id=customer.pk, status=Conflict.Status.OPEN)
    assert conflict.field == "reconcile.inn" and "7707083893" in conflict.erp_value
    assert not JournalEntry.objects.filter(method="REPAIR").exists()
    staff = get_user_model().objects.create_user("decider", "decider@example.com", "x", is_staff=True)
    resolve_conflict(conflict, "take_erp", user=staff, reason="проверено в ERP")  # the decision is recorded...
    customer.refresh_from_db()
    assert customer.inn != "7707083893"  # ...and the display values are never written into the record


def test_a_catalog_element_edited_in_amocrm_is_pushed_again(backend, ms, amo, placed):
    _order, breaker = placed
    element_id = Binding.objects.get(backend=amo.backend, object_id=breaker.pk,
                                     content_type__model="product").external_id
    catalog_id = AmoCrmClient(amo.backend).products_catalog_id()
    path = f"/api/v4/catalogs/{catalog_id}/elements/{element_id}"
    element = as_manager(amo.sandbox, "GET", path)
    sku = next(f for f in element["custom_fields_values"] if f["field_code"] == "SKU")
    as_manager(amo.sandbox, "PATCH", path, {"custom_fields_values": [
        {"field_id": sku["field_id"], "values": [{"value": "ПЕРЕПУТАН"}]}]})

    drift = _report()["drifts"]
    assert [(d["area"], d["key"]) for d in drift] == [("binding", f"catalog element {element_id} (MVA20-1-016-C)")]
    assert drift[0]["crm"].startswith("ПЕРЕПУТАН / ") and drift[0]["platform"].startswith("MVA20-1-016-C / ")

    repaired = _report("--repair")
    assert repaired["repaired"] == 1, [(d["area"], d["key"], d["erp"], d["platform"]) for d in repaired["drifts"][:5]]
    values = as_manager(amo.sandbox, "GET", path)["custom_fields_values"]
    assert next(f for f in values if f["field_code"] == "SKU")["values"][0]["value"] == "MVA20-1-016-C"
    assert _report()["drifts"] == []


def test_an_invoice_edited_in_the_erp_is_taken_again(backend, ms, amo, placed):
    order, _breaker = placed
    document = request_document(order, "invoice", actor=ADMIN)
    settle()
    document.refresh_from_db()
    assert document.status == "issued"
    _report("--repair")  # issuing does not move the deal to «Счёт выставлен» (yet): the reconciliation does
    settle()
    assert _report()["drifts"] == []
    status, _headers, _body = raw(ms, "PUT", f"/entity/invoiceout/{document.erp_id}", body={"name": "СЧ-0077"})
    assert status == 200

    drift = _report("--backend", "moysklad")
    assert "deal" not in drift["checked"] and drift["checked"]["document"] == 1
    assert [(d["area"], d["erp"].split(":")[0], d["platform"].split(":")[0]) for d in drift["drifts"]] == [
        ("document", "СЧ-0077", document.number)]

    assert _report("--repair", "--backend", "moysklad")["repaired"] == 1
    document.refresh_from_db()
    assert document.number == "СЧ-0077" and document.pdf.read().startswith(b"%PDF-")
    assert _report()["drifts"] == []


def test_values_staff_pinned_are_not_drift(backend, ms, amo, placed):
    _order, breaker = placed
    staff = get_user_model().objects.create_user("pinner", "pinner@example.com", "x", is_staff=True)
    pin_value(breaker, "name", "Автомат 16 А (для сайта)", author=staff, reason="имя для сайта")
    price = Price.objects.filter(product=breaker).order_by("pk").first()
    pin_value(price, "amount", "1.00", author=staff, reason="акция")
    level = StockLevel.objects.filter(product=breaker).order_by("pk").first()
    pin_value(level, "on_hand", "5", author=staff, reason="пересчёт на складе")

    assert _report()["drifts"] == []
