"""In headless Chromium: the order page shows one timeline of everything about the order."""

import pytest

from .conftest import log_in
from .data import backends, order_with_everything

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_order_page_timeline_leads_to_the_dead_letter(page, operator):
    order = order_with_everything(*backends())
    log_in(page, operator.username)
    page.goto(f"/admin/orders/order/{order.pk}/change/")

    timeline = page.locator("#order-timeline li")
    kinds = set(timeline.evaluate_all("items => items.map(i => i.dataset.kind)"))
    assert kinds >= {"outbox", "exchange", "conflict", "document", "payment", "shipment", "reservation", "history"}
    assert page.locator("#order-timeline li.staff-tl-error").count() == 3  # dead letter, 400 exchange, bad totals

    page.locator("#order-timeline li[data-kind=outbox].staff-tl-error a").click()
    page.wait_for_url("**/admin/integration/outboxevent/*/change/")
    assert "field 123 unknown" in page.locator("#content").inner_text()
