"""In headless Chromium, against the MoySklad emulator: the integration admin runs the catalog dry run with a
diff (nothing written), filters and pages it, then runs the same sync for real from the page."""

import pytest

from catalog.models import Product
from integration.models import Backend, SyncRun
from integration.sandbox.process import start_sandbox

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def moysklad():
    sandbox = start_sandbox("moysklad", seed="demo")
    yield sandbox
    sandbox.stop()


def test_admin_reviews_the_dry_run_diff_and_runs_the_sync_for_real(page, integration_admin, moysklad):
    erp = Backend.objects.create(
        name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url=moysklad.url + "/api/remap/1.2",
        credentials={"token": "sandbox-token"}, settings={"backoff_seconds": 0.05, "read_attempts": 2},
    )
    log_in(page, integration_admin.username)
    page.goto(f"/admin/staff/backends/{erp.pk}/dry-run/")
    page.click("#sync-diff-link")
    page.select_option("#sync-diff-kind", "catalog")
    with page.expect_navigation(timeout=90_000):  # the whole demo catalog is read and written, then undone
        page.click("#sync-diff-dry", no_wait_after=True)
    page.wait_for_selector("#sync-diff-result[data-dry='1']")
    assert not Product.objects.exists()
    assert page.locator("tr.sync-diff-row").count() == 50 and page.locator("#sync-diff-next").count() == 1

    page.select_option("select[name=model]", "catalog.Product")
    page.select_option("select[name=action]", "create")
    page.click("#sync-diff-filter button")
    rows = page.locator("tr.sync-diff-row")
    assert rows.count() > 0
    assert {rows.nth(i).get_attribute("data-model") for i in range(rows.count())} == {"catalog.Product"}
    assert "article" in rows.first.inner_text()

    with page.expect_navigation(timeout=90_000):
        page.click("#sync-diff-real", no_wait_after=True)
    page.wait_for_selector("#sync-diff-result[data-dry='0']")
    real = SyncRun.objects.get(backend=erp, kind="catalog", dry_run=False)
    dry = SyncRun.objects.get(backend=erp, kind="catalog", dry_run=True)
    assert real.details["diff_total"] == dry.details["diff_total"] and Product.objects.exists()
