"""The amoCRM settings page (issue 11, item 18): the stage mapping picked from amoCRM's pipelines and the
catalog scope, through the Django test client against the amoCRM sandbox process."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from catalog.models import Category, Product
from documents.actions import register_payment
from documents.types import PaymentInput
from integration import relay
from integration.amocrm.catalog_push import products_in_scope, push_catalog
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import sync_lead
from integration.amocrm.setup import prepare_account
from integration.models import Backend, Binding
from orders.models import Order
from tests.amocrm.conftest import amo_sandbox, as_manager, backend, make_shop, sandbox  # noqa: F401
from tests.amocrm.test_catalog_push import by_sku
from tests.catalog import factories as f

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db]
INVOICED, PAID = 3177731, 3177732  # «Счёт выставлен», «Оплачен» of the sandbox's main pipeline


@pytest.fixture
def amo(sandbox, backend, db):  # noqa: F811
    sandbox.control("amocrm/settings", {"rate_limit": 1000})
    backend.settings.update(rate_limit=1000, rate_period=1.0)
    backend.save()
    return backend


@pytest.fixture
def staff(client, integration_admin):
    client.force_login(integration_admin)
    return client


def settings_url(amo_backend) -> str:
    return reverse("admin:amocrm_backend_settings", args=[amo_backend.pk])


def selected(page: str, name: str) -> str:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    found = re.search(r'<option value="([^"]*)"[^>]*selected', select)
    return found.group(1) if found else ""


def paid_deal(amo_backend, amo_sandbox) -> tuple[int, Order]:  # noqa: F811
    """A deal for a company with a product, synced into an order (as a manager would make it)."""
    shop = make_shop()
    prepare_account(amo_backend, public_url="http://127.0.0.1:9")  # nobody listens: webhook deliveries just fail
    push_catalog(amo_backend)
    element = int(Binding.objects.get(backend=amo_backend, object_id=shop.cable.pk).external_id)
    company = as_manager(amo_sandbox, "POST", "/api/v4/companies", [{"name": "ООО «Плательщик»",
        "custom_fields_values": [{"field_code": "INN", "values": [{"value": "7707083893"}]},
                                 {"field_code": "KPP", "values": [{"value": "773601001"}]}]}])
    company_id = company["_embedded"]["companies"][0]["id"]
    lead = as_manager(amo_sandbox, "POST", "/api/v4/leads",
                      [{"name": "Заявка", "_embedded": {"companies": [{"id": company_id}]}}])
    lead_id = lead["_embedded"]["leads"][0]["id"]
    as_manager(amo_sandbox, "POST", f"/api/v4/leads/{lead_id}/link", [
        {"to_entity_id": element, "to_entity_type": "catalog_elements",
         "metadata": {"quantity": 2, "catalog_id": AmoCrmClient(amo_backend).products_catalog_id()}}])
    sync_lead(amo_backend, lead_id)
    return lead_id, Order.objects.get(lead_id=lead_id)


def test_staff_pick_a_stage_and_the_deal_moves_there_when_the_erp_reports_payment(staff, amo, sandbox):  # noqa: F811
    page = staff.get(settings_url(amo)).content.decode()
    assert '<optgroup label="Продажи">' in page and f'<option value="{INVOICED}">Счёт выставлен</option>' in page
    assert "Неразобранное" not in page  # amoCRM's "unsorted" stage is not a target
    assert selected(page, "stages-stage_paid") == ""  # the default: the stage named «Оплачен»
    response = staff.post(settings_url(amo), {"stages-stage_paid": str(INVOICED), "stages-pipeline_id": "",
                                              "save_stages": "1"})
    assert response.status_code == 302
    amo.refresh_from_db()
    assert amo.settings["stage_mapping"] == {"paid": str(INVOICED)}
    assert selected(staff.get(settings_url(amo)).content.decode(), "stages-stage_paid") == str(INVOICED)
    assert amo.history.first().history_user.username == "admin1"

    lead_id, order = paid_deal(amo, sandbox)
    register_payment(PaymentInput(amount=order.total, paid_at=datetime(2026, 12, 1, 12, tzinfo=ZoneInfo("UTC")),
                                  erp_id="payment-1", order_id=order.pk))
    relay.drain(max_seconds=30)
    assert Order.objects.get(pk=order.pk).payment_status == Order.PaymentStatus.PAID
    assert AmoCrmClient(amo).get_lead(lead_id)["status_id"] == INVOICED  # not the default «Оплачен»


def test_an_issued_invoice_moves_the_deal_to_its_stage(amo, sandbox, settings, tmp_path):  # noqa: F811
    from documents.actions import request_document
    from orders.types import Actor
    from tests.documents.factories import make_our_organization

    settings.MEDIA_ROOT = tmp_path
    make_our_organization()
    lead_id, order = paid_deal(amo, sandbox)
    relay.drain(max_seconds=30)
    assert AmoCrmClient(amo).get_lead(lead_id)["status_id"] != INVOICED

    request_document(order, "invoice", actor=Actor(crm_user_id=501, source="widget"))  # no ERP: issued here
    relay.drain(max_seconds=30)

    assert AmoCrmClient(amo).get_lead(lead_id)["status_id"] == INVOICED  # the default «Счёт выставлен»


def test_do_not_move_and_the_pipeline_are_stored(staff, amo):
    response = staff.post(settings_url(amo), {"stages-stage_paid": "-", "stages-stage_shipped": "142",
                                              "stages-pipeline_id": "3177727", "save_stages": "1"})
    assert response.status_code == 302, response.content.decode()[:3000]
    amo.refresh_from_db()
    assert amo.settings["stage_mapping"] == {"paid": "", "shipped": "142"}
    assert amo.settings["pipeline_id"] == 3177727


def test_a_stage_amocrm_does_not_list_is_refused(staff, amo):
    response = staff.post(settings_url(amo), {"stages-stage_paid": "999999", "save_stages": "1"})
    assert response.status_code == 200
    assert "999999 is not one of the available choices" in response.content.decode()
    amo.refresh_from_db()
    assert "stage_mapping" not in amo.settings


def test_amocrm_unreachable_shows_the_reason_and_keeps_the_mapping(staff, amo, sandbox):  # noqa: F811
    Backend.objects.filter(pk=amo.pk).update(settings={**amo.settings, "stage_mapping": {"paid": str(INVOICED)}})
    sandbox.control("faults", {"down": True})
    try:
        page = staff.get(settings_url(amo)).content.decode()
        assert 'id="amocrm-unreachable"' in page and "amoCRM did not answer" in page
        assert selected(page, "stages-stage_paid") == str(INVOICED)  # the current value, shown
        assert re.search(r'<select name="stages-stage_paid"[^>]*disabled', page)
        response = staff.post(settings_url(amo), {"stages-stage_paid": "-", "save_stages": "1"}, follow=True)
        assert "the stage mapping was not changed" in response.content.decode()
        # The catalog scope does not need amoCRM.
        response = staff.post(settings_url(amo), {"scope-scope": "all", "save_scope": "1"})
        assert response.status_code == 302
    finally:
        sandbox.control("faults", {"down": False})
    amo.refresh_from_db()
    assert amo.settings["stage_mapping"] == {"paid": str(INVOICED)} and amo.settings["catalog_scope"] == "all"


def test_catalog_scope_by_groups_reaches_subgroups_and_the_push_follows_it(staff, amo, sandbox):  # noqa: F811
    cables = Category.objects.create(name="Кабели", erp_id="folder-cables")
    copper = Category.objects.create(name="Медные", parent=cables, erp_id="folder-copper")
    lamps = Category.objects.create(name="Светильники", erp_id="folder-lamps")
    make_shop()
    products = {}
    for article, category, active in (("VVG", cables, True), ("NYM", copper, True), ("OLD", copper, False),
                                      ("LED", lamps, True)):
        products[article] = f.product(article)
        Product.objects.filter(pk=products[article].pk).update(category=category, active=active,
                                                               erp_id=f"erp-{article}")
    response = staff.post(settings_url(amo), {"scope-scope": "groups", "scope-groups": [cables.pk],
                                              "save_scope": "1"})
    assert response.status_code == 302
    amo.refresh_from_db()
    assert (amo.settings["catalog_scope"], amo.settings["catalog_groups"]) == ("groups", ["folder-cables"])
    assert {p.article for p in products_in_scope(amo)} == {"VVG", "NYM"}
    push_catalog(amo)
    assert set(by_sku(sandbox)) == {"VVG", "NYM"}
    page = staff.get(settings_url(amo)).content.decode()
    assert re.search(rf'<option value="{cables.pk}" selected>Кабели</option>', page)
    assert f'<option value="{copper.pk}">Кабели › Медные</option>' in page


def test_catalog_scope_by_erp_ids_or_articles_names_every_product(staff, amo):
    make_shop()
    cable = Product.objects.get(article="CAB-1")
    Product.objects.filter(pk=cable.pk).update(erp_id="erp-cable")
    response = staff.post(settings_url(amo), {"scope-scope": "chosen", "scope-products": "erp-cable, LMP-1\nnope-1",
                                              "save_scope": "1"})
    assert response.status_code == 200
    assert "No product has this ERP id or article: nope-1" in response.content.decode()
    amo.refresh_from_db()
    assert "catalog_scope" not in amo.settings  # nothing half-written
    response = staff.post(settings_url(amo), {"scope-scope": "chosen", "scope-products": "erp-cable, LMP-1",
                                              "save_scope": "1"})
    assert response.status_code == 302
    amo.refresh_from_db()
    assert amo.settings["catalog_products"] == ["erp-cable", "LMP-1"]
    assert {p.article for p in products_in_scope(amo)} == {"CAB-1", "LMP-1"}
    response = staff.post(settings_url(amo), {"scope-scope": "groups", "save_scope": "1"})
    assert "Choose at least one group." in response.content.decode()


def test_backend_page_links_the_settings_and_keeps_them_out_of_the_raw_json(staff, amo):
    Backend.objects.filter(pk=amo.pk).update(settings={**amo.settings, "stage_mapping": {"paid": str(INVOICED)},
                                                       "catalog_scope": "all"})
    change = reverse("admin:integration_backend_change", args=[amo.pk])
    page = staff.get(change).content.decode()
    assert settings_url(amo) in page
    raw = re.search(r'<textarea name="settings"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert "stage_mapping" not in raw and "catalog_scope" not in raw and "rate_limit" in raw
    form = {"name": amo.name, "kind": amo.kind, "base_url": amo.base_url, "active": "on",
            "paused_reason": "", "settings": '{"rate_limit": 500, "stage_mapping": {}}', "credentials_update": ""}
    response = staff.post(change, form)
    assert "Set stage_mapping on the amoCRM settings page" in response.content.decode()
    response = staff.post(change, {**form, "settings": '{"rate_limit": 500}'})
    assert response.status_code == 302
    amo.refresh_from_db()
    assert amo.settings == {"rate_limit": 500, "stage_mapping": {"paid": str(INVOICED)}, "catalog_scope": "all"}


@pytest.fixture
def keep_language():
    """The locale middleware leaves the language of the last request active in this thread: restore it."""
    from django.utils import translation

    before = translation.get_language()
    yield
    translation.activate(before)


def test_the_page_speaks_russian(staff, amo, sandbox, keep_language):  # noqa: F811
    page = staff.get(settings_url(amo), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    for words in ("Воронки и этапы прочитаны из amoCRM", "Сохранить соответствие этапов", "Этап «Оплачен» (по умолчанию)",
                  "Активные товары выбранных групп", "Сохранить состав каталога"):
        assert words in page, words
    sandbox.control("faults", {"down": True})
    try:
        page = staff.get(settings_url(amo), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    finally:
        sandbox.control("faults", {"down": False})
    assert "amoCRM не ответила, поэтому её этапы нельзя показать" in page
