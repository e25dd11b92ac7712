"""In headless Chromium: staff pick a deal stage from amoCRM's stages (item 18) and pin a value on a product the
ERP masters (item 20)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from catalog.models import Product
from documents.actions import register_payment
from documents.types import PaymentInput
from integration import relay
from integration.amocrm.client import AmoCrmClient
from integration.models import Backend, Override
from orders.models import Order
from tests.amocrm.conftest import amo_sandbox, backend, sandbox  # noqa: F401
from tests.catalog import factories as f

from .conftest import log_in
from .test_amocrm_settings import INVOICED, paid_deal

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_admin_picks_the_paid_stage_and_the_deal_moves_there(page, integration_admin, sandbox, backend):  # noqa: F811
    sandbox.control("amocrm/settings", {"rate_limit": 1000})
    backend.settings.update(rate_limit=1000, rate_period=1.0)
    backend.save()
    log_in(page, integration_admin.username)
    page.goto(f"/admin/integration/backend/{backend.pk}/change/")
    page.click("#amocrm-settings-link")
    page.wait_for_selector("#stage-mapping")
    page.select_option("select[name=stages-stage_paid]", label="Счёт выставлен")
    page.click("input[name=save_stages]")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("select[name=stages-stage_paid]").input_value() == str(INVOICED)
    backend.refresh_from_db()
    assert backend.settings["stage_mapping"] == {"paid": str(INVOICED)}

    lead_id, order = paid_deal(backend, sandbox)
    register_payment(PaymentInput(amount=order.total, paid_at=datetime(2026, 12, 1, 12, tzinfo=ZoneInfo("UTC")),
                                  erp_id="payment-b1", order_id=order.pk))
    relay.drain(max_seconds=30)
    assert Order.objects.get(pk=order.pk).payment_status == Order.PaymentStatus.PAID
    assert AmoCrmClient(backend).get_lead(lead_id)["status_id"] == INVOICED


def test_operator_pins_a_name_from_the_read_only_product_page(page, operator):
    Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="https://ms.example/api")
    cable = f.product("VVG-9", name="Кабель ВВГ")
    Product.objects.filter(pk=cable.pk).update(erp_id="erp-vvg-9")
    log_in(page, operator.username)
    page.goto("/admin/catalog/product/")
    assert page.locator("a[href='/admin/catalog/product/add/']").count() == 0  # no «Добавить товар»
    page.goto(f"/admin/catalog/product/{cable.pk}/change/")
    assert page.locator("input[name=name]").count() == 0
    assert "Mirrored from the ERP backend" in page.locator(".mirror-rule").inner_text()
    page.click("a.pin-link[data-field=name]")
    page.wait_for_selector("#override_form")
    assert page.locator("#id_field").input_value() == "name"
    page.fill("#id_value", '"Кабель ВВГ для КП"')
    page.fill("#id_reason", "название для коммерческих предложений")
    page.click("input[name=_save]")
    page.wait_for_url(f"**/admin/catalog/product/{cable.pk}/change/")
    assert "название для коммерческих предложений" in page.locator(".pinned-value").inner_text()
    cable.refresh_from_db()
    assert cable.name == "Кабель ВВГ для КП"
    assert Override.objects.get(field="name").author_id == operator.pk
