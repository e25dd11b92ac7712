"""The widget in the demo deal card, in Chromium: the unchanged widget/script.js driven as a manager and an
approver would, against the live server, the amoCRM sandbox (tokens, the deal) and the MoySklad sandbox (ERP)."""

from decimal import Decimal

import pytest
from django.db.models import F, Sum
from django.test import Client

from catalog.models import Product, StockLevel
from documents.models import Document
from integration import relay
from orders.models import Order
from tests.widget.conftest import WidgetClient
from tests.widget_bundle.conftest import APPROVER, MANAGER

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.browser]
API = "/api/widget/v1/"


def lead_of(page) -> int:
    return page.evaluate("JSON.parse(document.getElementById('amoerp-demo-config').textContent).lead_id")


def available(product: Product) -> Decimal:
    total = StockLevel.objects.filter(product=product).aggregate(free=Sum(F("on_hand") - F("reserved")))["free"]
    return total or Decimal("0")


def sellable(count: int, *, with_pack: bool = False, exclude=()) -> list[Product]:
    """Plain stocked goods with a price: enough of them for a few units (or two packs) each."""
    found = []
    query = Product.objects.filter(kind=Product.Kind.GOODS, tracking=Product.Tracking.NONE).exclude(pk__in=exclude)
    if with_pack:
        query = query.filter(packs__isnull=False).distinct()
    for product in query.order_by("article"):
        pack = product.packs.order_by("factor").first()
        need = pack.factor * 2 if with_pack else Decimal("5")
        if available(product) >= need:
            found.append(product)
            if len(found) == count:
                return found
    pytest.fail(f"the demo company has fewer than {count} such products")


def search(page, product: Product) -> None:
    page.fill(".amoerp-search__input", product.article)
    page.press(".amoerp-search__input", "Enter")
    page.wait_for_selector(f".amoerp-product[data-product='{product.pk}']")


def deliver_until(condition, attempts: int = 20) -> None:
    """The queue worker's job, done here: deliver the outbox until the condition holds."""
    for _ in range(attempts):
        relay.drain(max_seconds=10)
        if condition():
            return
    pytest.fail("the outbox did not bring the expected change")


def test_the_managers_flow_from_search_to_the_invoice_pdf(open_card, world):
    page = open_card(MANAGER)
    assert page.inner_text("#card_name") == "Кабель для объекта на Профсоюзной"
    assert "ИНН" in page.inner_text("#card_company") and "Сергей Волков" in page.inner_text("#card_contact")
    lead = lead_of(page)
    boxed = sellable(1, with_pack=True)[0]
    single, third = sellable(2, exclude=[boxed.pk])
    pack = boxed.packs.order_by("factor").first()

    # Search: the client's price (the deal's company's segment) and the stock per warehouse, as the API says.
    search(page, boxed)
    expected = WidgetClient(world.crm, MANAGER).get(API + "products", {"q": boxed.article, "lead_id": lead}).json()
    found = next(p for p in expected["results"] if p["id"] == boxed.pk)
    card = page.locator(f".amoerp-product[data-product='{boxed.pk}']")
    assert found["price"] in card.locator(".amoerp-product__price").inner_text()
    rows = card.locator(".amoerp-stock__row[data-warehouse]")
    assert rows.count() == len(found["stock"]["warehouses"]) >= 1
    for row in found["stock"]["warehouses"]:
        shown = card.locator(f".amoerp-stock__row[data-warehouse='{row['warehouse_id']}'] .amoerp-stock__available")
        assert shown.inner_text() == row["available"]
    assert found["stock"]["total"]["available"] in card.locator(".amoerp-stock__row_total").inner_text()
    card.locator(".amoerp-product__add").click()
    for product in (single, third):
        search(page, product)
        page.click(f".amoerp-product__add[data-product='{product.pk}']")

    # Three lines, the first in packs; saved and reserved with one PUT; the ERP number comes back.
    page.select_option(".amoerp-cart__line[data-index='0'] .amoerp-cart__unit", str(pack.pk))
    page.fill(".amoerp-cart__line[data-index='0'] .amoerp-cart__quantity", "1")
    page.fill(".amoerp-cart__line[data-index='1'] .amoerp-cart__quantity", "2")
    page.fill(".amoerp-cart__line[data-index='2'] .amoerp-cart__quantity", "3")
    page.fill(".amoerp-cart__address", "Москва, Профсоюзная ул., 1")
    page.click(".amoerp-cart__save")
    page.wait_for_selector(".amoerp-cart__reserved")
    reserved = [page.inner_text(f".amoerp-cart__line[data-index='{i}'] .amoerp-cart__reserved") for i in range(3)]
    assert [Decimal(value) for value in reserved] == [pack.factor, 2, 3]
    order = Order.objects.get(lead_id=lead)
    deliver_until(lambda: Order.objects.get(pk=order.pk).erp_number)
    page.click(".amoerp-refresh")
    order.refresh_from_db()
    page.wait_for_selector(f".amoerp-summary__erp-number:text('{order.erp_number}')")

    # A shortage: more than is available; the cart is kept and waits for an approver.
    page.fill(".amoerp-cart__line[data-index='2'] .amoerp-cart__quantity", str(available(third) + 5))
    page.click(".amoerp-cart__save")
    page.wait_for_selector(".amoerp-shortage")
    assert "Not enough stock" in page.inner_text(".amoerp-message_error")
    page.wait_for_selector(".amoerp-approval[data-status='requested']")
    assert page.locator(".amoerp-approve").count() == 0  # a manager without the right sees no approve button

    # The approver opens the same deal and approves.
    approver = open_card(APPROVER)
    approver.wait_for_selector(".amoerp-approval[data-status='requested']")
    approver.fill(".amoerp-approve__reason", "Клиент ждёт, поставка в среду")
    approver.click(".amoerp-approve__button")
    approver.wait_for_selector(".amoerp-approval[data-status='approved']")
    assert "Клиент ждёт" in approver.inner_text(".amoerp-approval")

    # The manager asks for the invoice; the ERP issues it; the PDF opens.
    page.click(".amoerp-refresh")
    page.wait_for_selector(".amoerp-approval[data-status='approved']")
    page.click(".amoerp-document__request[data-kind='invoice']")
    page.wait_for_selector(".amoerp-document[data-kind='invoice'][data-status='requested']")
    deliver_until(lambda: Document.objects.filter(order=order, status=Document.Status.ISSUED).exists())
    pdf_button = page.wait_for_selector(".amoerp-document[data-kind='invoice'][data-status='issued'] .amoerp-document__pdf",
                                        timeout=20_000)  # the widget polls while a document is being issued
    with page.context.expect_page() as popup:
        pdf_button.click()
    tab = popup.value
    tab.wait_for_url(lambda url: url.startswith("blob:"), wait_until="commit")
    head = page.evaluate("url => fetch(url).then(r => r.arrayBuffer()).then(b => "
                         "String.fromCharCode.apply(null, new Uint8Array(b).slice(0, 5)))", tab.url)
    assert head == "%PDF-"


def test_the_products_tab_through_the_card_sdk(open_card, world):
    page = open_card(MANAGER)
    lead = lead_of(page)
    product = sellable(1)[0]
    page.click(".demo-card__tab[data-tab='products']")
    page.focus(".demo-sdk__search")  # loadPreloadedData
    page.wait_for_selector(".demo-sdk__found-item")
    page.fill(".demo-sdk__search", product.article)  # searchDataInCard
    item = page.wait_for_selector(f".demo-sdk__found-item[data-id='{product.pk}']")
    expected = WidgetClient(world.crm, MANAGER).get(API + "products", {"q": product.article, "lead_id": lead}).json()
    price = next(p for p in expected["results"] if p["id"] == product.pk)["price"]
    assert str(Decimal(price).normalize()) in item.inner_text().replace(",", ".")
    item.query_selector(".demo-sdk__link").click()
    page.fill(f".demo-sdk__item[data-id='{product.pk}'] .demo-sdk__quantity", "2")
    page.dispatch_event(f".demo-sdk__item[data-id='{product.pk}'] .demo-sdk__quantity", "change")
    with page.expect_console_message(lambda m: "linkCard links:" in m.text):
        page.click(".demo-sdk__save")  # linkCard: the cart saved as the panel does
    page.wait_for_selector(".demo-sdk__status:text-is('saved')")
    order = Order.objects.get(lead_id=lead)
    assert [(line.product_id, line.quantity) for line in order.lines.all()] == [(product.pk, Decimal("2"))]
    assert page.inner_text(f".demo-sdk__item[data-id='{product.pk}'] .demo-sdk__name") == product.name  # loadElements


def test_every_call_carries_a_fresh_token_and_a_401_is_retried_once(open_card, world):
    page = open_card(MANAGER)
    product = sellable(1)[0]
    calls = []  # (path, token, status) of every widget API call the browser makes from here on
    page.on("response", lambda r: calls.append((r.url.split(API)[1], r.request.headers.get("x-auth-token"), r.status))
            if API in r.url else None)
    page.evaluate("window.amoerpDemo.expireNextTokens = 1")  # amoCRM hands out an expired token once
    search(page, product)
    searches = [status for path, _, status in calls if path.startswith("products")]
    assert searches == [401, 200]
    page.evaluate("window.amoerpDemo.expireNextTokens = 2")  # expired twice: no third try, the error is shown
    page.fill(".amoerp-search__input", "кабель")
    page.press(".amoerp-search__input", "Enter")
    page.wait_for_selector(".amoerp-message_error")
    assert "The token has expired." in page.inner_text(".amoerp-message_error")
    page.wait_for_timeout(500)  # a third attempt, if the widget made one, would show up here
    searches = [status for path, _, status in calls if path.startswith("products")]
    assert searches == [401, 200, 401, 401]
    tokens = [token for _, token, _ in calls]
    assert all(tokens) and len(set(tokens)) == len(tokens)  # a token on every call, never the same one twice


def test_the_demo_page_is_not_served_outside_debug_and_demo(world, settings):
    settings.AMOERP_WIDGET = {**settings.AMOERP_WIDGET, "DEMO_PAGE": False}
    client = Client()
    for path in ("/widget-demo/", "/widget-demo/bundle/script.js", "/widget-demo/assets/standin.js"):
        assert client.get(path).status_code == 404
    assert client.post("/widget-demo/token", "{}", content_type="application/json").status_code == 404


def test_the_settings_are_checked_with_ping_on_save(open_card, world):
    page = open_card(MANAGER)
    page.click(".demo-card__tab[data-tab='settings']")
    page.wait_for_selector(".amoerp-settings__hint")
    page.fill(".demo-settings__public-url", "http://127.0.0.1:9")  # nothing listens there
    page.click(".demo-settings__save")
    page.wait_for_selector(".demo-settings__saved:text-is('not saved')")
    assert "The amoerp platform cannot be reached" in page.inner_text(".amoerp-settings__result")
    page.fill(".demo-settings__public-url", world.url)
    page.click(".demo-settings__save")
    page.wait_for_selector(".demo-settings__saved:text-is('saved')")
    assert page.inner_text(".amoerp-settings__result").startswith("The platform answers: account demo, version ")


def test_stale_stock_is_shown_flagged_and_then_fresh_without_searching_again(open_card, world):
    """The platform answers a stale stock figure at once and asks the ERP off the request path; the widget asks
    again a moment later, so the manager sees the fresh figure without pressing search a second time."""
    from datetime import timedelta

    from django.utils import timezone

    from integration.erp.services import refresh_requested_stock

    page = open_card(MANAGER)
    product = sellable(1)[0]
    StockLevel.objects.filter(product=product).update(snapshot_at=timezone.now() - timedelta(days=1))
    search(page, product)
    card = page.locator(f".amoerp-product[data-product='{product.pk}']")
    assert card.locator(".amoerp-stale").count() == 1
    assert refresh_requested_stock(max_seconds=10) >= 1  # the queued refresh, as a worker runs it
    card.locator(".amoerp-stale").wait_for(state="detached", timeout=10_000)
    assert page.locator(f".amoerp-product[data-product='{product.pk}'] .amoerp-stock__available").count() >= 1
