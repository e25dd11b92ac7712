from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Barcode, PriceList, Product, Segment
from counterparties.models import Counterparty
from documents.models import Document
from orders import actions
from orders.models import Order, Reservation
from orders.types import Actor, CartLine
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
BASE = "/api/widget/v1"


@pytest.fixture
def shop(db):
    main, north = f.warehouse("Main"), f.warehouse("North")
    drill = f.product("DR-100", name="Дрель ударная", price="1000.00")
    box = f.pack(drill, 4)
    Barcode.objects.create(product=drill, value="4600000000017")
    saw = f.product("SW-200", name="Пила дисковая", price="500.00", vat_rate="10")
    f.stock(drill, main, 8)
    f.stock(drill, north, 2, expected=1)
    f.stock(saw, main, 1)
    wholesale = PriceList.objects.create(name="Wholesale", code="wholesale")
    from catalog.models import Price
    Price.objects.create(product=drill, price_list=wholesale, amount=Decimal("900.00"))
    Price.objects.create(product=saw, price_list=wholesale, amount=Decimal("450.00"))
    segment = Segment.objects.create(name="Опт", code="opt", price_list=wholesale)
    client = Counterparty.objects.create(name="ООО Ромашка", inn="7707083893", kpp="770701001", segment=segment)
    return {"main": main, "north": north, "drill": drill, "box": box, "saw": saw, "client": client}


def test_search_by_name_article_and_barcode(manager, shop):
    for q in ("дрель", "dr-1", "4600000000017"):
        body = manager.get(f"{BASE}/products", {"q": q}).json()
        assert [p["article"] for p in body["results"]] == ["DR-100"], q
    found = manager.get(f"{BASE}/products", {"q": "DR-100"}).json()["results"][0]
    assert found["price"] == "1000.00" and found["price_list"] == "retail" and found["vat_rate"] == "22"
    assert found["unit"]["short_name"] == "шт" and found["packs"][0]["factor"] == "4.000"
    stock = found["stock"]
    assert stock["total"]["available"] == "11.000" and stock["stale"] is False and stock["snapshot_at"]
    assert {w["warehouse"]: w["available"] for w in stock["warehouses"]} == {"Main": "8.000", "North": "3.000"}
    paged = manager.get(f"{BASE}/products", {"page_size": 1}).json()
    assert len(paged["results"]) == 1 and paged["has_next"] is True


def test_search_shows_the_leads_segment_price_and_our_pending_reserve(manager, shop, deal):
    lead_id = deal()
    actions.get_or_create_order_for_lead(lead_id, counterparty=shop["client"])
    other = actions.get_or_create_order_for_lead(deal())
    actions.set_cart(other, [CartLine(shop["drill"].pk, Decimal("3"), warehouse_id=shop["main"].pk)],
                     actor=Actor(source="widget"))
    body = manager.get(f"{BASE}/products", {"q": "DR-100", "lead_id": lead_id, "warehouse": shop["main"].pk}).json()
    found = body["results"][0]
    assert found["price"] == "900.00" and found["price_list"] == "wholesale"
    assert [w["available"] for w in found["stock"]["warehouses"]] == ["5.000"]


def test_old_stock_is_flagged_stale_when_it_cannot_be_refreshed(manager, shop):
    f.stock(shop["saw"], shop["main"], 1, snapshot_at=timezone.now() - timedelta(hours=1))
    found = manager.get(f"{BASE}/products", {"q": "SW-200"}).json()["results"][0]
    assert found["stock"]["stale"] is True  # no ERP backend configured: nothing can refresh it


def test_put_cart_reserves_and_409_lists_the_shortage(manager, shop, deal):
    lead = deal()
    cart = {"lines": [{"product": shop["drill"].pk, "quantity": "2", "pack": shop["box"].pk,
                       "warehouse": shop["main"].pk}], "comment": "срочно", "delivery_address": "Москва"}
    response = manager.put(f"{BASE}/leads/{lead}/order", cart)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "reserve_pending" and body["lines"][0]["reserved"] == "8.000"
    assert body["order"]["lines"][0]["reserved"] == "8.000" and body["order"]["comment"] == "срочно"
    cart["lines"].append({"product": shop["saw"].pk, "quantity": "5", "warehouse": shop["main"].pk})
    response = manager.put(f"{BASE}/leads/{lead}/order", cart)
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 409 and list(problem["errors"]) == ["lines[1].quantity"]
    assert problem["shortages"][0]["available"] == "1.000" and problem["shortages"][0]["reason"] == "insufficient stock"
    assert Order.objects.get(lead_id=lead).status == "awaiting_approval"
    assert not Reservation.objects.filter(order__lead_id=lead, status="pending").exists()


def test_approve_needs_an_approver_then_reserves(manager, approver, shop, deal):
    lead = deal()
    cart = {"lines": [{"product": shop["saw"].pk, "quantity": "3", "warehouse": shop["main"].pk}]}
    assert manager.put(f"{BASE}/leads/{lead}/order", cart).status_code == 409
    refused = manager.post(f"{BASE}/leads/{lead}/order/approve", {"reason": "предоплата"})
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    ok = approver.post(f"{BASE}/leads/{lead}/order/approve", {"reason": "предоплата"})
    assert ok.status_code == 200, ok.content
    body = ok.json()
    assert body["status"] == "reserve_pending" and body["lines"][0]["short"] == "2.000"
    assert body["order"]["approvals"][0]["decided_by"] == "amocrm-user-777"
    assert Reservation.objects.get(order__lead_id=lead, status="pending").automatic is False
    cancelled = manager.post(f"{BASE}/leads/{lead}/order/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert manager.put(f"{BASE}/leads/{lead}/order", cart).status_code == 409  # closed


def test_approvers_by_amocrm_group_read_from_amocrm(amo, shop, deal):
    """settings["approver_groups"]: the user's group (rights.group_id; the main group is 0) is read from amoCRM
    when the approval is asked for; users of other groups, and users amoCRM does not know, are refused."""
    from tests.widget.conftest import WidgetClient

    lead = deal()
    cart = {"lines": [{"product": shop["saw"].pk, "quantity": "3", "warehouse": shop["main"].pk}]}
    anna, stranger = WidgetClient(amo, 1001), WidgetClient(amo, 501)  # 1001 is a user of the sandbox account
    assert anna.put(f"{BASE}/leads/{lead}/order", cart).status_code == 409
    amo.settings = {**amo.settings, "approvers": [], "approver_groups": [42]}
    amo.save()
    assert anna.post(f"{BASE}/leads/{lead}/order/approve", {"reason": "предоплата"}).status_code == 403
    amo.settings = {**amo.settings, "approver_groups": [0]}
    amo.save()
    assert stranger.post(f"{BASE}/leads/{lead}/order/approve", {"reason": "предоплата"}).status_code == 403
    assert Order.objects.get(lead_id=lead).status == Order.Status.AWAITING_APPROVAL
    ok = anna.post(f"{BASE}/leads/{lead}/order/approve", {"reason": "предоплата"})
    assert ok.status_code == 200, ok.content
    assert ok.json()["order"]["approvals"][0]["decided_by"] == "amocrm-user-1001"


def test_the_amocrm_user_is_the_actor_of_every_change(manager, approver, shop, deal):
    from tests.documents.factories import make_our_organization

    make_our_organization()
    lead = deal()
    cart = {"lines": [{"product": shop["saw"].pk, "quantity": "3", "warehouse": shop["main"].pk}]}
    assert manager.put(f"{BASE}/leads/{lead}/order", cart).status_code == 409
    assert approver.post(f"{BASE}/leads/{lead}/order/approve", {"reason": "предоплата"}).status_code == 200
    assert manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "invoice"}).status_code == 202
    assert manager.post(f"{BASE}/leads/{lead}/order/cancel").status_code == 200
    order = Order.objects.get(lead_id=lead)
    reasons = list(order.history.order_by("history_id").values_list("history_change_reason", flat=True))
    assert "cart set (widget:amocrm-user-501)" in reasons
    assert "shortage approved (widget:amocrm-user-777)" in reasons
    assert reasons[-1] == "cancelled (widget:amocrm-user-501)"
    assert not order.history.exclude(history_user=None).exists()  # no Django user stands in for them
    approval = order.approvals.get()
    assert (approval.decided_by_crm_user, approval.decided_by_id) == (777, None)
    assert Document.objects.get(order=order).requested_by == "widget:amocrm-user-501"


def test_order_detail_and_404(manager, shop, deal):
    lead = deal()
    missing = manager.get(f"{BASE}/leads/404/order")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    manager.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1", "warehouse": shop["main"].pk}]})
    detail = manager.get(f"{BASE}/leads/{lead}/order").json()
    assert detail["lead_id"] == lead and detail["lines"][0]["article"] == "SW-200"
    assert [r["status"] for r in detail["reservations"]] == ["pending"]
    assert detail["timeline"] and detail["timeline"][0]["event"] == "order"
    for key in ("conflicts", "documents", "payments", "shipments", "approvals"):
        assert detail[key] == []


@pytest.mark.parametrize(
    ("language", "title", "needle"),
    [("en", "Invalid input", "greater than or equal to 0.001"), ("ru", "Неверные данные", "больше либо равно 0.001")],
)
def test_field_errors_in_problem_json_follow_accept_language(amo, shop, deal, language, title, needle):
    from tests.widget.conftest import WidgetClient

    lead = deal()
    client = WidgetClient(amo, 501, language=language)
    response = client.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "0"}],
                                                     "comment": 5 * "x" * 1001})
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == title
    assert set(body["errors"]) == {"lines[0].quantity", "comment"}
    assert needle in body["errors"]["lines[0].quantity"][0]
    domain = client.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1",
                                                               "pack": shop["box"].pk}]})
    assert domain.status_code == 400 and list(domain.json()["errors"]) == ["lines[0].pack"]
    if language == "ru":
        assert domain.json()["errors"]["lines[0].pack"] == ["Эта упаковка не относится к товару."]


def test_documents_request_and_pdf(manager, shop, deal):
    from tests.documents.factories import make_our_organization

    make_our_organization()  # our requisites entered by staff: documents are rendered only with them
    lead = deal()
    manager.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1", "warehouse": shop["main"].pk}]})
    response = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "invoice"})
    assert response.status_code == 202, response.content
    document = response.json()
    assert document["status"] == "issued" and document["pdf_url"]  # no ERP backend: rendered here at once
    pdf = manager.get(document["pdf_url"], HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    pending = Document.objects.create(order=Order.objects.get(lead_id=lead), kind="upd")
    assert manager.get(f"{BASE}/leads/{lead}/documents/{pending.pk}/pdf").status_code == 404  # not issued yet
    bad = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "receipt"})
    assert bad.status_code == 400 and "kind" in bad.json()["errors"]
    assert manager.get(f"{BASE}/leads/{lead}/documents/999999/pdf").status_code == 404


def test_a_document_is_served_only_through_its_own_deal(manager, shop, deal):
    """Another deal's document, a document through a deal that is not in the token's account, and the old
    path without a deal all answer 404, with no PDF byte."""
    from tests.documents.factories import make_our_organization

    make_our_organization()
    invoices = {}
    for lead in (deal(), deal()):
        manager.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1",
                                                              "warehouse": shop["main"].pk}]})
        invoices[lead] = manager.post(f"{BASE}/leads/{lead}/documents", {"kind": "invoice"}).json()
    (mine, mine_doc), (other, other_doc) = invoices.items()
    assert mine_doc["pdf_url"] == f"{BASE}/leads/{mine}/documents/{mine_doc['id']}/pdf"
    assert manager.get(mine_doc["pdf_url"], HTTP_ACCEPT="application/pdf").status_code == 200
    assert manager.get(f"{BASE}/leads/{mine}/documents/{other_doc['id']}/pdf").status_code == 404
    # An order of a deal the account does not have (another account's deal id): its documents stay hidden.
    foreign = Order.objects.get(lead_id=other)
    Order.objects.filter(pk=foreign.pk).update(lead_id=987654321)
    response = manager.get(f"{BASE}/leads/987654321/documents/{other_doc['id']}/pdf", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    for document_id in (mine_doc["id"], other_doc["id"]):  # the old path is gone
        assert manager.get(f"{BASE}/documents/{document_id}/pdf").status_code == 404


def test_unknown_products_are_field_errors(manager, shop, deal):
    lead = deal()
    Product.objects.filter(pk=shop["saw"].pk).update(active=False)
    response = manager.put(f"{BASE}/leads/{lead}/order", {"lines": [{"product": shop["saw"].pk, "quantity": "1"}]})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["lines[0].product"]
