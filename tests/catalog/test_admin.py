import html
import io
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from catalog.models import Product, StockLevel
from tests.erp.conftest import backend as ms_backend  # noqa: F401 - fixtures of the MoySklad sandbox
from tests.erp.conftest import ms, ms_sandbox  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(admin_client):
    call_command("load_demo", stdout=io.StringIO())
    return admin_client


def registered(app_label: str):
    return [model for model in admin.site._registry if model._meta.app_label == app_label]


@pytest.mark.parametrize("app_label", ["catalog", "counterparties"])
def test_every_model_registered_and_pages_render(demo, app_label):
    models = registered(app_label)
    own = {m for m in apps.get_app_config(app_label).get_models() if not m.__name__.startswith("Historical")}
    assert set(models) == own
    for model in models:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert demo.get(reverse(f"{prefix}_changelist")).status_code == 200, model
        assert demo.get(reverse(f"{prefix}_add")).status_code == 200, model
        obj = model.objects.order_by("pk").first()
        assert obj is not None, model
        assert demo.get(reverse(f"{prefix}_change", args=[obj.pk])).status_code == 200, model
        if hasattr(model, "history"):
            assert demo.get(reverse(f"{prefix}_history", args=[obj.pk])).status_code == 200, model


def changelist_rows(client, model: str, query: str) -> str:
    return client.get(reverse(f"admin:catalog_{model}_changelist"), {"q": query}).content.decode()


def test_search_products_by_article_barcode_and_name(demo):
    product = Product.objects.get(article="MVA20-1-016-C")
    barcode = product.barcodes.get().value
    for query in ("MVA20-1-016-C", barcode, "ВА47-29 1P C16"):
        page = changelist_rows(demo, "product", query)
        assert "MVA20-1-016-C" in page, query
    assert "MVA20-1-016-C" not in changelist_rows(demo, "product", "NYM")


def test_stock_list_shows_available_in_russian_format(demo):
    row = StockLevel.objects.filter(batch__isnull=True, on_hand__gte=1000).order_by("pk").first()
    available = row.on_hand - row.reserved + row.expected
    page = demo.get(reverse("admin:catalog_stocklevel_changelist"), {"q": row.product.article},
                    HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    integer = int(available)
    assert f"{integer // 1000}\u00a0{integer % 1000:03d}" in page or f"{integer // 1000} {integer % 1000:03d}" in page
    assert "Доступно" in page


def test_prices_shown_with_currency(demo):
    page = demo.get(reverse("admin:catalog_price_changelist"), {"q": "KIT-ELECTRICIAN"},
                    HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "2\u00a0490,00\u00a0₽" in page or "2 490,00\u00a0₽" in page


def test_duplicate_products_filter(demo):
    page = demo.get(reverse("admin:catalog_product_changelist"), {"duplicates": "name_unit"}).content.decode()
    assert "VVG-3X2.5-OLD" in page and "VVGNG-3X2.5" in page and "NYM-3X2.5" not in page


# --- mirrored ERP data: read-only while the ERP is the master (issue 11, item 20) -------------------------------


@pytest.fixture
def erp(db):
    from integration.models import Backend

    return Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="https://ms.example/api")


@pytest.fixture
def mirrored(erp):
    """A product, its price and stock and a warehouse, as the ERP sync leaves them (with ERP ids)."""
    from decimal import Decimal

    from catalog.models import Price, PriceList
    from tests.catalog import factories as f

    retail = PriceList.objects.create(name="Розничная", code="retail", erp_id="pt-retail", is_default=True)
    store = f.warehouse("Основной склад")
    store.erp_id = "wh-1"
    store.save()
    cable = f.product("VVG-1", name="Кабель ВВГ")
    cable.erp_id = "pr-1"
    cable.save()
    price = Price.objects.create(product=cable, price_list=retail, amount=Decimal("96.50"))
    stock = f.stock(cable, store, on_hand="10")
    return {"product": cable, "price": price, "stocklevel": stock, "warehouse": store, "pricelist": retail}


def url(name: str, *args) -> str:
    return reverse(f"admin:catalog_{name}", args=args)


def change_data(client, model: str, obj) -> dict:
    """What the change form would post: its own fields, with the synced ones changed."""
    from catalog.models import Price, StockLevel, Warehouse

    if isinstance(obj, Warehouse):
        return {"name": "Переименован", "code": "X", "address": "", "active": "on", "erp_id": obj.erp_id}
    if isinstance(obj, Price):
        return {"product": obj.product_id, "price_list": obj.price_list_id, "amount": "1.00"}
    if isinstance(obj, StockLevel):
        return {"product": obj.product_id, "warehouse": obj.warehouse_id, "on_hand": "999", "reserved": "0",
                "expected": "0"}
    return {"article": obj.article, "name": "Переименован", "unit": obj.unit_id, "kind": "goods", "vat_rate": "22",
            "tracking": "none", "active": "on", "erp_id": obj.erp_id,
            **{f"{prefix}-{key}": "0" for prefix in ("barcodes", "packs", "components", "prices", "stock")
               for key in ("TOTAL_FORMS", "INITIAL_FORMS")}}


@pytest.mark.parametrize("model", ["product", "price", "stocklevel", "warehouse"])
def test_mirrored_rows_cannot_be_added_changed_or_deleted(admin_client, mirrored, model):
    obj = mirrored[model]
    before = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    changelist = admin_client.get(url(f"{model}_changelist")).content.decode()
    assert url(f"{model}_add") not in changelist  # no «Добавить …» button
    assert admin_client.get(url(f"{model}_add")).status_code == 403
    assert admin_client.post(url(f"{model}_add"), change_data(admin_client, model, obj)).status_code == 403
    page = admin_client.get(url(f"{model}_change", obj.pk))
    assert page.status_code == 200
    assert 'name="amount"' not in page.content.decode() and 'name="on_hand"' not in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    assert admin_client.post(url(f"{model}_change", obj.pk), change_data(admin_client, model, obj)).status_code == 403
    assert admin_client.get(url(f"{model}_delete", obj.pk)).status_code == 403
    assert admin_client.post(url(f"{model}_delete", obj.pk), {"post": "yes"}).status_code == 403
    bulk = admin_client.post(url(f"{model}_changelist"), {"action": "delete_selected", "_selected_action": [obj.pk],
                                                          "post": "yes"})
    assert bulk.status_code in (200, 302)
    obj.refresh_from_db()
    assert {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields} == before


def test_product_page_states_the_rule_and_its_inlines_are_read_only(admin_client, mirrored):
    page = admin_client.get(url("product_change", mirrored["product"].pk)).content.decode()
    assert "Mirrored from the ERP backend “moysklad”" in page
    assert 'class="pin-link" data-field="name"' in page
    assert 'name="prices-0-amount"' not in page and "prices-empty" not in page  # no editable or new price rows


def test_local_field_of_a_mirrored_price_list_stays_editable(admin_client, mirrored):
    retail = mirrored["pricelist"]
    response = admin_client.post(url("pricelist_change", retail.pk),
                                 {"name": "Другое", "code": "other", "currency": "USD", "erp_id": "x"})
    assert response.status_code == 302
    retail.refresh_from_db()
    assert (retail.name, retail.code, retail.currency, retail.erp_id, retail.is_default) == (
        "Розничная", "retail", "RUB", "pt-retail", False)


def test_without_an_active_erp_backend_the_catalog_is_editable_again(admin_client, mirrored, erp):
    erp.active = False
    erp.save()
    product = mirrored["product"]
    assert admin_client.get(url("product_add")).status_code == 200
    response = admin_client.post(url("product_change", product.pk), change_data(admin_client, "product", product))
    assert response.status_code == 302, response.content.decode()[:2000]
    product.refresh_from_db()
    assert product.name == "Переименован"


def test_pin_a_value_from_the_read_only_page(admin_client, mirrored):
    from integration.models import Override

    product = mirrored["product"]
    change_url = url("product_change", product.pk)
    page = admin_client.get(change_url).content.decode()
    link = re.search(r'<a href="([^"]+)" class="pin-link" data-field="name">', page).group(1)
    form = admin_client.get(html.unescape(link))
    assert form.status_code == 200
    assert "Кабель ВВГ" in form.content.decode()  # the current value is filled in
    target = html.unescape(link)
    query = dict(parse_qsl(urlsplit(target).query))
    response = admin_client.post(target, {"content_type": query["content_type"], "object_id": query["object_id"],
                                          "field": "name", "value": '"Кабель ВВГ (наш)"', "reason": "для КП"})
    assert response.status_code == 302 and response["Location"] == change_url
    product.refresh_from_db()
    assert product.name == "Кабель ВВГ (наш)"
    override = Override.objects.get(object_id=product.pk, field="name")
    assert override.history.count() == 1 and override.author.is_superuser
    page = admin_client.get(change_url).content.decode()
    assert "pinned by" in page and "для КП" in page


@pytest.mark.sandbox
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_value_pinned_in_the_admin_survives_the_next_catalog_sync(admin_client, ms, ms_backend):  # noqa: F811
    from integration.erp.moysklad.catalog_sync import sync_catalog
    from integration.models import Conflict

    sync_catalog(ms_backend, full=True)
    cable = Product.objects.get(article="VVGNG-3X2.5")
    page = admin_client.get(reverse("admin:catalog_product_change", args=[cable.pk])).content.decode()
    link = html.unescape(re.search(r'<a href="([^"]+)" class="pin-link" data-field="name">', page).group(1))
    query = dict(parse_qsl(urlsplit(link).query))
    response = admin_client.post(link, {"content_type": query["content_type"], "object_id": cable.pk, "field": "name",
                                        "value": '"Кабель для КП"', "reason": "название для КП"})
    assert response.status_code == 302
    # The ERP changes the product (a price is enough to rewrite it): the pinned name must stay.
    ms.control("moysklad/product", {"article": "VVGNG-3X2.5", "prices": {"Розничная": "99.90"}})
    sync_catalog(ms_backend)
    cable.refresh_from_db()
    assert cable.name == "Кабель для КП"
    assert Conflict.objects.filter(object_id=cable.pk, field="name").exists()
