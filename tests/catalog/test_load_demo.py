import pytest
from django.core.management import call_command

from catalog.availability import get_availability
from catalog.duplicates import find_duplicate_products
from catalog.models import Barcode, KitComponent, Price, Product, StockLevel
from counterparties.matching import find_duplicate_groups
from counterparties.models import Counterparty, Phone
from integration.sandbox.demo_company import demo_company

pytestmark = pytest.mark.django_db


def test_load_demo_is_idempotent_and_complete(capsys):
    call_command("load_demo")
    first = capsys.readouterr().out
    company = demo_company()
    assert "demo company loaded" in first
    assert Product.objects.count() == len(company.products)
    assert Price.objects.count() == 3 * len(company.products)
    assert StockLevel.objects.count() == len(company.stock)
    assert Counterparty.objects.count() == len(company.counterparties)
    assert Product.history.count() == len(company.products)
    counts = (Product.objects.count(), Barcode.objects.count(), Phone.objects.count(), StockLevel.objects.count())

    call_command("load_demo")
    assert "nothing changed" in capsys.readouterr().out
    assert counts == (Product.objects.count(), Barcode.objects.count(), Phone.objects.count(),
                      StockLevel.objects.count())
    assert Product.history.count() == len(company.products)

    # The demo exercises the rest: kits have availability, duplicates are found.
    kit = Product.objects.get(article="KIT-ELECTRICIAN")
    assert KitComponent.objects.filter(kit=kit).count() == 4
    assert get_availability([kit.pk])[kit.pk].total.available >= 0
    groups = find_duplicate_groups()
    assert sum(1 for g in groups if g.kind == "duplicate") == 2
    assert sum(1 for g in groups if g.kind == "branches") == 1
    assert any(g.reason == "name_unit" for g in find_duplicate_products())
