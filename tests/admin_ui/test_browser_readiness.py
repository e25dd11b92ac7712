"""In headless Chromium: the start page leads the integration admin to «Готовность к запуску», where a failing
check shows its offender (linked to its page) and is acknowledged; the start page then stops asking."""

import pytest

from counterparties.models import Counterparty
from integration.staff.models import ReadinessAck

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_follows_the_start_page_to_the_checklist_and_acknowledges_a_check(page, integration_admin):
    wrong = Counterparty.objects.create(kind="legal", name="ООО Опечатка", inn="7707083894", kpp="773601001")
    log_in(page, integration_admin.username)

    page.click("#readiness-link")
    page.wait_for_selector("#readiness-checks")
    row = page.locator("tr.readiness-check[data-check='counterparties']")
    assert row.get_attribute("data-status") == "fail" and row.locator(".readiness-count").inner_text() == "1"
    section = page.locator("section#check-counterparties")
    assert "check digit" in section.inner_text()

    section.locator("a", has_text="ООО Опечатка").click()
    page.wait_for_url(f"**/admin/counterparties/counterparty/{wrong.pk}/change/")
    page.go_back()

    for code in page.locator("section.readiness-detail").evaluate_all("nodes => nodes.map(n => n.dataset.check)"):
        form = page.locator(f"section#check-{code} form.readiness-ack")
        form.locator("input[name=note]").fill("проверено, запускаемся")
        form.locator("button").click()
        page.wait_for_selector(".messagelist .success")
    assert page.locator("#readiness-overall").get_attribute("data-status") == "pass"
    assert "by admin1" in page.locator("tr.readiness-check[data-check='counterparties']").inner_text()
    assert ReadinessAck.objects.get(code="counterparties").acknowledged_by == integration_admin

    page.goto("/admin/")
    assert page.locator("#readiness-banner").count() == 0
