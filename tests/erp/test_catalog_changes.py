"""A price or name changed in the ERP whose webhook never came (MoySklad gives up after three tries) reaches
the platform by the scheduled catalog changes within minutes — managers would quote the old price until the
nightly run otherwise."""

from decimal import Decimal

import pytest
from django_q.models import Schedule

from catalog.models import Price, Product
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.schedules import specs

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_schedule(func: str) -> None:
    module, name = func.rsplit(".", 1)
    getattr(__import__(module, fromlist=[name]), name)()


def test_a_price_whose_webhook_was_lost_arrives_within_minutes(backend, ms):
    sync_catalog(backend, full=True)
    product = Product.objects.get(article="VVGNG-3X2.5")
    retail = Price.objects.get(product=product, price_list__name="Розничная")
    ms.control("moysklad/product", {"article": product.article, "prices": {"Розничная": 123.45},
                                    "name": "Кабель ВВГнг 3×2,5 (новая упаковка)"})  # no webhook is registered
    catalog_changes = [s for s in specs() if s.func == "integration.tasks.sync_catalog"
                       and s.schedule_type == Schedule.MINUTES]
    assert catalog_changes and catalog_changes[0].minutes <= 10
    run_schedule(catalog_changes[0].func)
    retail.refresh_from_db()
    product.refresh_from_db()
    assert retail.amount == Decimal("123.45")
    assert product.name == "Кабель ВВГнг 3×2,5 (новая упаковка)"
