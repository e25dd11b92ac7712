"""In headless Chromium (one for this module): the live progress bar follows work as it is recorded and
survives a reload; the dashboard's charts switch periods and show their numbers as tables."""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest
from django.core.cache import cache

from integration.models import Backend, JournalEntry, Progress
from integration.progress import tracked
from tests.admin_ui.conftest import CHROMIUM, CHROMIUM_ARGS

from .conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run tests/ensure_chromium.sh")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop marks this thread async
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, superuser):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    tab = context.new_page()
    tab.goto("/admin/login/?next=/admin/")
    tab.fill("#id_username", superuser.username)
    tab.fill("#id_password", PASSWORD)
    tab.click("input[type=submit]")
    tab.wait_for_url("**/admin/")
    yield tab
    context.close()


def test_the_progress_bar_follows_the_work_survives_a_reload_and_keeps_the_timeline(page, settings):
    settings.AMOERP = {**settings.AMOERP, "PROGRESS_WRITE_SECONDS": 0}
    with ExitStack() as stack:
        tracker = stack.enter_context(tracked(Progress.Operation.RECONCILE, "reconcile moysklad", total=200))
        tracker.step("moysklad: stock")
        tracker(40)
        page.goto("/admin/staff/progress/")
        box = page.locator(f"#progress-{tracker.record.pk}")
        assert box.locator('[data-field="done"]').inner_text() == "40"
        assert box.locator('[data-field="step"]').inner_text() == "moysklad: stock"

        tracker.step("moysklad: prices")
        tracker(150)
        page.wait_for_function(f"document.querySelector('#progress-{tracker.record.pk}').dataset.done === '150'")
        assert box.locator("progress").get_attribute("max") == "200"
        assert box.locator("progress").evaluate("bar => bar.value") == 150
        assert box.locator('[data-field="step"]').inner_text() == "moysklad: prices"
        assert box.locator('[data-field="percent"]').inner_text() == "(75 %)"
        assert box.locator('[data-field="eta"]').inner_text() != "—"

        page.reload()
        assert page.locator(f"#progress-{tracker.record.pk} [data-field='done']").inner_text() == "150"
        page.locator(f"#progress-{tracker.record.pk} h2 a").click()
        page.wait_for_url(f"**/admin/staff/progress/{tracker.record.pk}/")
        tracker(200)
    # The work is over: the page notices, reloads once and shows the timeline it keeps.
    page.wait_for_function("document.querySelector('.staff-progress').dataset.status === 'succeeded'")
    page.wait_for_selector("#progress-timeline table")
    steps = page.locator("#progress-timeline tbody tr")
    assert [steps.nth(i).locator("td").nth(1).inner_text() for i in range(steps.count())] == [
        "moysklad: stock", "moysklad: prices"]
    assert page.locator("#progress-timeline svg.staff-chart").is_visible()
    assert page.locator('[data-field="done"]').inner_text() == "200"


def test_the_dashboard_charts_switch_period_and_show_their_numbers(page):
    erp = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")
    JournalEntry.objects.bulk_create([
        JournalEntry(backend=erp, direction="out", method="GET", url="/x", status_code=code)
        for code in (200, 200, 200, 429, 500)])
    cache.clear()  # the dashboard shown at login cached its charts for a minute
    page.goto("/admin/")
    trends = page.locator("#trends")
    assert trends.get_attribute("data-period") == "24h"
    assert trends.locator("#trend-exchanges svg polyline").count() >= 3
    trends.locator("#trend-exchanges summary").click()
    table = trends.locator("#trend-exchanges table")
    assert table.is_visible() and table.locator("tbody tr").count() == 24
    last = table.locator("tbody tr").last.locator("td")
    assert [last.nth(i).inner_text() for i in range(3)] == ["3", "1", "1"]

    trends.get_by_role("link", name="30 days").click()
    page.wait_for_url("**/admin/?period=30d#trends")
    assert page.locator("#trends").get_attribute("data-period") == "30d"
    assert page.locator("#trend-exchanges table tbody tr").count() == 30

    page.locator('tr.staff-backend[data-backend="moysklad"] .staff-charts-link').click()
    page.wait_for_url(f"**/admin/staff/backends/{erp.pk}/charts/")
    assert page.locator("#trends h2").inner_text() == "Over time: moysklad"
    assert page.locator(".staff-trend-card").count() == 7
