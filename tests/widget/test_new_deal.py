"""The manager's path on a real account, from the user's side: deals created in the amoCRM sandbox, the widget
called over HTTP on a live server with tokens the amoCRM sandbox signs, the ERP in the MoySklad sandbox with
the demo company's three warehouses."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests

from catalog.models import Price, PriceList, Product, Segment, Warehouse
from counterparties.models import Counterparty
from integration import inbox, relay
from integration.amocrm.catalog_push import ensure_elements
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.setup import prepare_account
from integration.bindings import external_id_for
from integration.models import Backend, JournalEntry, OutboxEvent
from integration.syncs import run_sync
from orders.models import Order, Reservation
from tests.amocrm.conftest import as_manager, dump, stats
from tests.erp.conftest import API, TOKEN, entities, ms, ms_sandbox  # noqa: F401 — fixtures
from tests.widget.conftest import create_deals

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BASE = "/api/widget/v1"
MISSING_LEAD = 21999999


class Widget:
    """The widget in the manager's browser: every call carries a fresh token signed by amoCRM."""

    def __init__(self, server: str, sandbox, user_id: int = 1001):
        self.server, self.sandbox, self.user_id = server, sandbox, user_id
        self.session = requests.Session()

    def token(self) -> str:
        return self.sandbox.control("amocrm/widget_token", {"user_id": self.user_id})["token"]

    def call(self, method: str, path: str, *, json=None, data=None, params=None) -> requests.Response:
        headers = {"X-Auth-Token": self.token(), "Accept-Language": "en"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return self.session.request(method, f"{self.server}{BASE}{path}", json=json, data=data, params=params,
                                    headers=headers, timeout=60)


@pytest.fixture
def widget(http_server, amo, sandbox):
    client = Widget(http_server, sandbox)
    yield client
    client.session.close()


@pytest.fixture
def world(http_server, amo, sandbox, ms):  # noqa: F811
    """`make demo` in small: MoySklad with the demo company synced, amoCRM prepared with our catalog and its
    webhooks pointing at the live server."""
    erp = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url=ms.url + API,
                                 credentials={"token": TOKEN},
                                 settings={"backoff_seconds": 0.05, "read_attempts": 2, "webhook_secret": "ms-hook"})
    for kind in ("warehouses", "catalog", "prices", "stock"):
        run_sync(kind, erp, full=True)
    prepare_account(amo, public_url=http_server)
    ensure_elements(amo, list(Product.objects.filter(article__in=ARTICLES).values_list("pk", flat=True)))
    amo.refresh_from_db()
    client = AmoCrmClient(amo)
    customer = entities(ms, "counterparty", "companyType=legal")[0]
    return SimpleNamespace(erp=erp, crm=amo, sandbox=sandbox, ms=ms, catalog_id=client.products_catalog_id(),
                           customer=customer, warehouses=Warehouse.objects.filter(active=True).count())


ARTICLES = ("VVGNG-3X2.5",)


def company(world, name: str, inn: str, kpp: str = "") -> int:
    values = [{"field_code": "INN", "values": [{"value": inn}]}]
    if kpp:
        values.append({"field_code": "KPP", "values": [{"value": kpp}]})
    body = as_manager(world.sandbox, "POST", "/api/v4/companies", [{"name": name, "custom_fields_values": values}])
    return body["_embedded"]["companies"][0]["id"]


def element(world, product: Product) -> int:
    return int(external_id_for(world.crm, product))


def set_deal_products(world, lead_id: int, products: dict[Product, int]) -> None:
    as_manager(world.sandbox, "POST", f"/api/v4/leads/{lead_id}/link", [
        {"to_entity_id": element(world, p), "to_entity_type": "catalog_elements",
         "metadata": {"quantity": q, "catalog_id": world.catalog_id}} for p, q in products.items()])


def process_webhooks(world) -> None:
    """amoCRM delivers what the manager did to our hook; the inbox worker applies it."""
    world.sandbox.control("amocrm/webhooks/flush", {"ignore_schedule": True, "wait_seconds": 5})
    inbox.process_inbox(source="amocrm")


def erp_orders(world, order: Order) -> list[dict]:
    return [o for o in entities(world.ms, "customerorder") if o.get("externalCode") == str(order.uuid)]


def notes(world, lead_id: int) -> list[str]:
    return [n["params"].get("text", "") for n in dump(world.sandbox, "notes") if n["entity_id"] == lead_id]


# --- 1. a cart on a new deal reaches the ERP ------------------------------------------------------------------
def test_a_cart_on_a_new_deal_reaches_the_erp_with_the_deals_company(world, widget):
    existing = Counterparty.objects.create(kind="legal", name="Клиент из ERP", inn=world.customer["inn"],
                                           kpp=world.customer["kpp"])
    lead_id = create_deals(world.sandbox, company_id=company(world, "ООО «Из amoCRM»", world.customer["inn"],
                                                             world.customer["kpp"]))[0]
    cable = Product.objects.get(article="VVGNG-3X2.5")
    moscow = Warehouse.objects.get(name="Москва")
    response = widget.call("PUT", f"/leads/{lead_id}/order",
                           json={"lines": [{"product": cable.pk, "quantity": "2", "warehouse": moscow.pk}]})
    assert response.status_code == 200, response.text
    body = response.json()
    order = Order.objects.get(lead_id=lead_id)
    assert order.counterparty_id == existing.pk and Counterparty.objects.count() == 1  # matched, not duplicated
    assert body["status"] == "reserved" and body["erp_number"]
    assert len(erp_orders(world, order)) == 1


def test_an_order_that_gains_its_counterparty_later_goes_to_the_erp_then(world, widget):
    company_id = company(world, "ООО «Опечатка»", "7707083894", world.customer["kpp"])  # bad ИНН checksum
    lead_id = create_deals(world.sandbox, company_id=company_id)[0]
    cable = Product.objects.get(article="VVGNG-3X2.5")
    moscow = Warehouse.objects.get(name="Москва")
    response = widget.call("PUT", f"/leads/{lead_id}/order",
                           json={"lines": [{"product": cable.pk, "quantity": "1", "warehouse": moscow.pk}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reserve_pending"
    assert "7707083894" in body["order"]["erp_pending_reason"]  # a visible reason, not a silent wait
    relay.drain()  # the deal is told about the order; our write comes back as an unchanged deal
    process_webhooks(world)
    order = Order.objects.get(lead_id=lead_id)
    assert order.counterparty is None and not erp_orders(world, order)
    # The manager corrects the company's ИНН in amoCRM: the order now has its counterparty and goes to the ERP.
    as_manager(world.sandbox, "PATCH", f"/api/v4/companies/{company_id}", {"custom_fields_values": [
        {"field_code": "INN", "values": [{"value": world.customer["inn"]}]}]})
    company_reads = JournalEntry.objects.filter(direction="out", url__contains=f"/api/v4/companies/{company_id}")
    before = company_reads.count()
    process_webhooks(world)
    assert OutboxEvent.objects.filter(topic="erp.order.upsert", aggregate_id=str(order.pk)).exists()
    assert company_reads.count() - before <= 2  # the webhook's one read (with its deals), the deal's one
    relay.drain()
    order.refresh_from_db()
    assert order.counterparty.inn == world.customer["inn"] and order.erp_pending_reason == ""
    assert order.status == Order.Status.RESERVED and len(erp_orders(world, order)) == 1


# --- 2. several warehouses: the deal's product changes are applied -----------------------------------------------
def test_product_changes_in_the_deal_keep_the_warehouse_and_reach_the_erp(world, widget):
    assert world.warehouses > 1
    Counterparty.objects.create(kind="legal", name="Клиент", inn=world.customer["inn"], kpp=world.customer["kpp"])
    lead_id = create_deals(world.sandbox, company_id=company(world, "ООО «Склады»", world.customer["inn"],
                                                             world.customer["kpp"]))[0]
    cable = Product.objects.get(article="VVGNG-3X2.5")
    spb = Warehouse.objects.get(name="Санкт-Петербург")
    response = widget.call("PUT", f"/leads/{lead_id}/order",
                           json={"lines": [{"product": cable.pk, "quantity": "1", "warehouse": spb.pk}]})
    assert response.status_code == 200 and response.json()["status"] == "reserved", response.text
    order = Order.objects.get(lead_id=lead_id)
    assert order.warehouse_id == spb.pk  # set_cart gave the order its warehouse
    relay.drain()
    set_deal_products(world, lead_id, {cable: 3})  # the manager changes the quantity in the deal
    process_webhooks(world)
    line = order.lines.get()
    assert (line.base_quantity, line.warehouse_id, line.warehouse_rule) == (Decimal("3"), spb.pk, "kept")
    assert not any("warehouse" in text.lower() or "склад" in text.lower() for text in notes(world, lead_id))
    relay.drain()
    [erp] = erp_orders(world, order)
    assert erp["store"]["meta"]["href"].endswith(spb.erp_id)
    assert Order.objects.get(pk=order.pk).lines.get().base_quantity == 3
    assert Reservation.objects.filter(order=order, status__in=["pending", "confirmed"], quantity=3,
                                      warehouse=spb).exists()


def test_a_deal_created_with_products_gets_a_warehouse_by_the_stated_rule(world):
    Counterparty.objects.create(kind="legal", name="Клиент", inn=world.customer["inn"], kpp=world.customer["kpp"])
    cable = Product.objects.get(article="VVGNG-3X2.5")
    lead_id = create_deals(world.sandbox, company_id=company(world, "ООО «Новая»", world.customer["inn"],
                                                             world.customer["kpp"]))[0]
    set_deal_products(world, lead_id, {cable: 1})
    process_webhooks(world)
    order = Order.objects.get(lead_id=lead_id)
    line = order.lines.get()
    from orders.availability import sellable_availability

    figures = sellable_availability([cable.pk]).get(cable.pk)
    best = max(figures.by_warehouse.items(), key=lambda kv: (kv[1].available + line.base_quantity
                                                             if kv[0] == line.warehouse_id else kv[1].available))
    assert line.warehouse_rule == "stock" and line.warehouse_id == best[0]
    assert order.status in (Order.Status.RESERVE_PENDING, Order.Status.RESERVED)
    assert not any("склад" in text.lower() for text in notes(world, lead_id))


# --- 3. the deal's company decides the price list from the first search -----------------------------------------
def test_the_deals_company_decides_the_price_from_the_first_search(world, widget):
    cable = Product.objects.get(article="VVGNG-3X2.5")
    special = PriceList.objects.exclude(is_default=True).filter(prices__product=cable).first()
    assert special is not None
    segment = Segment.objects.create(name="Опт", code="opt-test", price_list=special)
    Counterparty.objects.create(kind="legal", name="Оптовик", inn=world.customer["inn"], kpp=world.customer["kpp"],
                                segment=segment)
    lead_id = create_deals(world.sandbox, company_id=company(world, "ООО «Опт»", world.customer["inn"],
                                                             world.customer["kpp"]))[0]
    expected = Price.objects.get(product=cable, price_list=special).amount
    found = widget.call("GET", "/products", params={"q": "VVGNG-3X2.5", "lead_id": lead_id}).json()["results"][0]
    assert (found["price"], found["price_list"]) == (f"{expected:.2f}", special.code)
    moscow = Warehouse.objects.get(name="Москва")
    response = widget.call("PUT", f"/leads/{lead_id}/order",
                           json={"lines": [{"product": cable.pk, "quantity": "1", "warehouse": moscow.pk}]})
    assert response.status_code == 200, response.text
    assert Decimal(response.json()["order"]["lines"][0]["price"]) == expected


# --- 4. carts only for deals that exist in the token's account ----------------------------------------------------
def test_deals_that_do_not_exist_answer_404_and_nothing_is_written(widget, amo, sandbox):
    from tests.orders import factories as f

    store = f.warehouse("Main")
    item = f.product("NX-1")
    f.stock(item, store, 10)
    cart = {"lines": [{"product": item.pk, "quantity": "1", "warehouse": store.pk}]}
    for method, path, body in (("PUT", "order", cart), ("GET", "order", None), ("POST", "order/cancel", None),
                               ("POST", "order/approve", {"reason": "x"}), ("POST", "documents", {"kind": "invoice"})):
        response = widget.call(method, f"/leads/{MISSING_LEAD}/{path}", json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
    search = widget.call("GET", "/products", params={"q": "NX-1", "lead_id": MISSING_LEAD})
    assert search.status_code == 404
    assert not Order.objects.exists() and not Reservation.objects.exists()
    # A real deal: checked against amoCRM once, then the cached binding answers.
    lead_id = create_deals(sandbox)[0]
    assert widget.call("PUT", f"/leads/{lead_id}/order", json=cart).status_code == 200
    before = stats(sandbox)["counters"]["api_requests"]
    assert widget.call("GET", f"/leads/{lead_id}/order").status_code == 200
    assert widget.call("GET", "/products", params={"q": "NX-1", "lead_id": lead_id}).status_code == 200
    assert stats(sandbox)["counters"]["api_requests"] == before


def test_an_order_created_for_a_missing_deal_is_not_shown(widget, amo):
    Order.objects.create(lead_id=MISSING_LEAD)  # left by the old code
    assert widget.call("GET", f"/leads/{MISSING_LEAD}/order").status_code == 404
    assert widget.call("POST", f"/leads/{MISSING_LEAD}/order/cancel").status_code == 404
    assert Order.objects.get(lead_id=MISSING_LEAD).status == Order.Status.DRAFT


# --- 6. quantities keep their precision ------------------------------------------------------------------------------
def test_a_too_precise_quantity_is_refused_as_number_and_as_string(widget, amo, sandbox):
    from tests.orders import factories as f

    store = f.warehouse("Main")
    item = f.product("PR-1")
    f.stock(item, store, 10)
    lead_id = create_deals(sandbox)[0]
    answers = []
    for quantity in ("1.000000000000000000000000000001", '"1.000000000000000000000000000001"'):
        raw = f'{{"lines": [{{"product": {item.pk}, "quantity": {quantity}, "warehouse": {store.pk}}}]}}'
        response = widget.call("PUT", f"/leads/{lead_id}/order", data=raw.encode())
        assert response.status_code == 400, response.text
        answers.append(response.json())
    assert answers[0] == answers[1] and list(answers[0]["errors"]) == ["lines[0].quantity"]
    assert not Order.objects.filter(lead_id=lead_id).exclude(status="draft").exists()
    assert not Reservation.objects.exists()


def test_new_lines_take_the_counterpartys_then_the_backends_warehouse(world, widget, admin_client):
    cable = Product.objects.get(article="VVGNG-3X2.5")
    ekb, spb = Warehouse.objects.get(name="Екатеринбург"), Warehouse.objects.get(name="Санкт-Петербург")
    Counterparty.objects.create(kind="legal", name="Уральский клиент", inn=world.customer["inn"],
                                kpp=world.customer["kpp"], warehouse=ekb)
    first = create_deals(world.sandbox, company_id=company(world, "ООО «Урал»", world.customer["inn"],
                                                           world.customer["kpp"]))[0]
    response = widget.call("PUT", f"/leads/{first}/order", json={"lines": [{"product": cable.pk, "quantity": "1"}]})
    assert response.status_code == 200, response.text
    [line] = response.json()["order"]["lines"]
    assert (line["warehouse_id"], line["warehouse_rule"]) == (ekb.pk, "counterparty")
    assert Order.objects.get(lead_id=first).warehouse_id == ekb.pk
    # A deal without a client: the ERP backend's configured default warehouse.
    world.erp.settings["default_warehouse"] = spb.erp_id
    world.erp.save()
    second = create_deals(world.sandbox)[0]
    response = widget.call("PUT", f"/leads/{second}/order", json={"lines": [{"product": cable.pk, "quantity": "1"}]})
    [line] = response.json()["order"]["lines"]
    assert (line["warehouse_id"], line["warehouse_rule"]) == (spb.pk, "backend")
    # Staff see which rule chose each line, and the rule itself.
    page = admin_client.get(f"/admin/orders/order/{Order.objects.get(lead_id=second).pk}/change/").content.decode()
    assert "the ERP backend&#x27;s default warehouse" in page and "most available stock of the product" in page
    assert "link a company or a contact" in page  # why the ERP has not got it yet


@pytest.mark.parametrize("webhook_first", [True, False])
def test_a_deal_with_products_and_a_widget_cart_reach_the_erp_in_either_order(world, widget, webhook_first):
    Counterparty.objects.create(kind="legal", name="Клиент", inn=world.customer["inn"], kpp=world.customer["kpp"])
    cable = Product.objects.get(article="VVGNG-3X2.5")
    moscow = Warehouse.objects.get(name="Москва")
    lead_id = create_deals(world.sandbox, company_id=company(world, "ООО «Гонка»", world.customer["inn"],
                                                             world.customer["kpp"]))[0]
    set_deal_products(world, lead_id, {cable: 2})
    if webhook_first:
        process_webhooks(world)
    response = widget.call("PUT", f"/leads/{lead_id}/order",
                           json={"lines": [{"product": cable.pk, "quantity": "5", "warehouse": moscow.pk}]})
    assert response.status_code == 200, response.text
    process_webhooks(world)
    relay.drain()
    process_webhooks(world)
    order = Order.objects.get(lead_id=lead_id)
    assert order.status == Order.Status.RESERVED and order.lines.get().base_quantity == 5  # the widget's cart
    [erp] = erp_orders(world, order)
    assert order.erp_id == erp["id"]


def test_a_deal_with_a_person_is_matched_by_phone_never_duplicated(widget, amo, sandbox):
    from counterparties.models import Phone
    from tests.orders import factories as f

    store = f.warehouse("Main")
    item = f.product("PH-1", price=100)
    f.stock(item, store, 10)
    special = PriceList.objects.create(name="Свои", code="own")
    Price.objects.create(product=item, price_list=special, amount=Decimal("80.00"))
    person = Counterparty.objects.create(kind="individual", name="Иван Петров",
                                         segment=Segment.objects.create(name="Свои", code="own", price_list=special))
    Phone.objects.create(counterparty=person, number="+79161234567")
    contact = as_manager(sandbox, "POST", "/api/v4/contacts", [{"name": "Иван П.", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "8 (916) 123-45-67", "enum_code": "MOB"}]}]}])
    lead_id = create_deals(sandbox, contact_id=contact["_embedded"]["contacts"][0]["id"])[0]
    found = widget.call("GET", "/products", params={"q": "PH-1", "lead_id": lead_id}).json()["results"][0]
    assert (found["price"], found["price_list"]) == ("80.00", "own")
    response = widget.call("PUT", f"/leads/{lead_id}/order", json={"lines": [{"product": item.pk, "quantity": "1"}]})
    assert response.status_code == 200, response.text
    assert Order.objects.get(lead_id=lead_id).counterparty_id == person.pk and Counterparty.objects.count() == 1


def test_when_amocrm_cannot_be_asked_the_cart_waits_with_503_and_nothing_is_written(widget, amo, sandbox):
    from tests.orders import factories as f

    store = f.warehouse("Main")
    item = f.product("DN-1")
    f.stock(item, store, 10)
    lead_id = create_deals(sandbox)[0]
    sandbox.set_faults(error_rate=1.0, error_status=503, path_regex=r"^/api/v4/leads")
    try:
        response = widget.call("PUT", f"/leads/{lead_id}/order",
                               json={"lines": [{"product": item.pk, "quantity": "1", "warehouse": store.pk}]})
    finally:
        sandbox.set_faults(error_rate=0.0, path_regex="")
    assert response.status_code == 503 and response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] and not Order.objects.exists() and not Reservation.objects.exists()
