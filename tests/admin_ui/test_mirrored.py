"""Mirrored ERP data as each staff group sees it (issue 11, item 20)."""

import pytest
from django.urls import reverse

from catalog.models import Product
from integration.models import Backend
from tests.catalog import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def cable(db):
    Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="https://ms.example/api")
    product = f.product("VVG-5", name="Кабель ВВГ")
    Product.objects.filter(pk=product.pk).update(erp_id="erp-vvg-5")
    return product


def test_an_auditor_sees_the_rule_but_no_pin_links(client, auditor, cable):
    client.force_login(auditor)
    page = client.get(reverse("admin:catalog_product_change", args=[cable.pk])).content.decode()
    assert "Mirrored from the ERP backend" in page and "pin-link" not in page


def test_an_operator_may_pin_and_stock_says_where_it_is_changed(client, operator, cable):
    client.force_login(operator)
    page = client.get(reverse("admin:catalog_product_change", args=[cable.pk])).content.decode()
    assert 'class="pin-link" data-field="vat_rate"' in page and 'data-field="article"' not in page
    stock = f.stock(cable, f.warehouse(), on_hand="5")
    page = client.get(reverse("admin:catalog_stocklevel_change", args=[stock.pk])).content.decode()
    assert "Stock is the ERP&#x27;s snapshot" in page and "pin-link" not in page
