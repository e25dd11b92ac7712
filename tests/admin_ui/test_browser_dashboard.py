"""In headless Chromium: an operator logs in, reads the dashboard's alerts and pauses/resumes a backend."""

import pytest

from integration.models import Backend, OutboxEvent

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_pauses_and_resumes_from_the_dashboard(page, operator):
    erp = Backend.objects.create(name="erp", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/")
    OutboxEvent.objects.create(
        backend=erp, topic="erp.order.upsert", aggregate_type="orders.order", aggregate_id="1",
        idempotency_key="k1", status=OutboxEvent.Status.DEAD, last_error="400 bad VAT",
    )
    log_in(page, operator.username)

    alerts = page.locator("#alerts .staff-alert-error")
    assert "1 dead letter in the outbox of erp" in alerts.first.inner_text()
    kpis = page.locator("#kpis .staff-kpi")
    assert kpis.count() == 5 and page.locator("#kpis svg.staff-chart").count() == 4
    row = page.locator('tr.staff-backend[data-backend="erp"]')
    assert row.locator(".staff-queue").inner_text() == "0" and row.locator(".staff-dead").inner_text() == "1"

    row.get_by_role("link", name="Pause").click()
    page.fill("#id_reason", "Обновление 1С")
    page.get_by_role("button", name="Pause").click()
    page.wait_for_url("**/admin/")
    assert "Backend erp is paused: Обновление 1С" in page.locator("#alerts").inner_text()
    erp.refresh_from_db()
    assert erp.paused and erp.paused_reason == "Обновление 1С"
    assert erp.history.latest().history_user_id == operator.pk

    page.locator('tr.staff-backend[data-backend="erp"]').get_by_role("button", name="Resume").click()
    page.wait_for_url("**/admin/")
    erp.refresh_from_db()
    assert not erp.paused


def test_language_switcher_turns_the_admin_russian(page, auditor):
    log_in(page, auditor.username)
    assert page.locator("html").get_attribute("lang") == "en"
    page.select_option("#language-select", "ru")
    page.wait_for_load_state()
    page.wait_for_function("document.documentElement.lang === 'ru'")
    assert page.locator("#runbook-link").text_content().strip() == "Регламент"
