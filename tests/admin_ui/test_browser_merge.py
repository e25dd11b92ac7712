"""In headless Chromium: an operator merges two duplicate counterparties through the confirmation page."""

import pytest

from counterparties.models import Counterparty, Phone
from orders.models import Order

from .conftest import log_in
from .data import duplicate_counterparties

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_merges_duplicates_after_seeing_the_plan(page, operator):
    keep, dup = duplicate_counterparties()
    order = Order.objects.create(lead_id=7001, counterparty=dup)
    log_in(page, operator.username)

    page.goto("/admin/counterparties/counterparty/")
    page.check(f"input.action-select[value='{keep.pk}']")
    page.check(f"input.action-select[value='{dup.pk}']")
    page.select_option("select[name=action]", "merge_selected")
    page.click("button[name=index]")

    page.wait_for_selector("#merge-form")
    page.check(f"input[name=survivor][value='{keep.pk}']")
    page.fill("#id_reason", "один клиент, два ввода")
    page.click("input[name=preview]")
    plan = page.locator("#merge-plan")
    assert "Иван Иванов" in plan.inner_text()  # the duplicate is named before anything moves
    assert Counterparty.objects.get(pk=dup.pk).merged_into_id is None

    page.click("#merge-confirm")
    page.wait_for_url("**/admin/counterparties/counterparty/")
    assert page.locator(".messagelist .success").count() == 1

    dup.refresh_from_db()
    order.refresh_from_db()
    assert dup.merged_into_id == keep.pk
    assert order.counterparty_id == keep.pk
    assert list(Phone.objects.filter(number="+79161234567").values_list("counterparty_id", flat=True)) == [keep.pk]
    assert dup.history.latest().history_user_id == operator.pk
