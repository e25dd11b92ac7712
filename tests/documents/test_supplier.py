"""Our requisites: the ERP organization first, then settings, then the demo company."""

import pytest

from documents.supplier import DEMO_SUPPLIER, get_supplier
from integration.models import Backend

pytestmark = pytest.mark.django_db

ORG = {"name": "ООО «Торговый дом»", "inn": "7701122338", "kpp": "770101001", "bik": "044525225",
       "account": "40702810900000000002", "bank_name": "ПАО Сбербанк", "unknown": "ignored"}


def test_demo_default_without_configuration(settings):
    settings.AMOERP = {**settings.AMOERP, "SUPPLIER": None}
    assert get_supplier() == DEMO_SUPPLIER and DEMO_SUPPLIER.has_bank


def test_settings_then_erp_organization(settings):
    settings.AMOERP = {**settings.AMOERP, "SUPPLIER": {"name": "ИП Сидоров", "inn": "500100732259"}}
    supplier = get_supplier()
    assert (supplier.name, supplier.inn, supplier.has_bank) == ("ИП Сидоров", "500100732259", False)
    Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://x", settings={"organization": ORG})
    supplier = get_supplier()
    assert (supplier.name, supplier.kpp, supplier.account) == ("ООО «Торговый дом»", "770101001", "40702810900000000002")
    assert supplier.has_bank


def test_incomplete_organization_is_skipped(settings):
    settings.AMOERP = {**settings.AMOERP, "SUPPLIER": None}
    Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://x",
                           settings={"organization": {"name": "Без ИНН"}})
    assert get_supplier() == DEMO_SUPPLIER
