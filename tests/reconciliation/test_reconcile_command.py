"""`manage.py reconcile`: drift made behind our back in the sandboxes (stock, a price, an order line, a payment,
the deal's stage and products) is listed with both values; `--repair` repairs it and journals each repair;
the next run finds nothing."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from integration.models import JournalEntry
from integration.reconciliation import reconcile
from tests.amocrm.conftest import as_manager

from .conftest import DEAD_URL, settle

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
    assert "on hand 777" in stock["erp"] and "on hand 777" not in stock["platform"]
    price = found["price"][0]
    assert price["key"].startswith("MVA20-1-016-C") and price["erp"] == "612.34" and price["platform"] != "612.34"
    line = found["order"][0]
    assert "MVA20-1-016-C: 2 × 500" in line["erp"] and "MVA20-1-016-C: 3 ×" in line["platform"]
    pay = found["payment"][0]
    assert pay["erp"] == format(payment["sum"] / 100, "g") and pay["platform"] == "—"
    products = next(d for d in found["deal"] if d["key"].endswith("products"))
    assert products["crm"] == "—" and "× 3" in products["platform"]
    assert all(d["cause"] and not d["repaired"] for d in sum(found.values(), []))

    repaired = _report("--repair")
    assert repaired["repaired"] >= 5 and all(d["repaired"] for d in repaired["drifts"]), repaired["drifts"]
    entries = JournalEntry.objects.filter(method="REPAIR")
    assert entries.count() == repaired["repaired"]
    assert entries.filter(url__startswith="reconcile://price/MVA20-1-016-C").exists()
    settle()  # the deal's re-push goes out through the outbox

    again = _report()
    assert again["drifts"] == [], again["drifts"]
