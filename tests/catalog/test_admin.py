import io

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from catalog.models import Product, StockLevel

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
