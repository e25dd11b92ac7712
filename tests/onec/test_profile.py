"""Configuration profile detection from the publication's `$metadata`."""

import pytest

from integration.erp.onec.adapter import OneCAdapter
from integration.erp.onec.profile import MissingEntitySets
from integration.models import Backend
from integration.sandbox.process import start_sandbox
from tests.onec.conftest import make_backend

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def other_bases():
    """A КА 2 base and an ERP 2 base whose publication lacks three sets."""
    ka2 = start_sandbox("onec", options={"profile": "ka2"})
    erp2 = start_sandbox("onec", options={"profile": "erp2", "omit": [
        "Catalog_Номенклатура", "Document_ЗаказКлиента", "InformationRegister_ЦеныНоменклатуры25"]})
    yield ka2, erp2
    ka2.stop()
    erp2.stop()


def test_ut11_profile_is_detected_and_stored(backend):
    profile = OneCAdapter(backend).detect_profile()
    assert (profile.name, profile.prices, profile.vat_by_ref, profile.free_stock) == (
        "ut11", "InformationRegister_ЦеныНоменклатуры", False, True)
    stored = Backend.objects.get(pk=backend.pk).settings["onec_profile"]
    assert stored["title"] == "УТ 11" and stored["prices"] == profile.prices


def test_ka2_uses_new_pricing_and_vat_refs(other_bases, db):
    profile = OneCAdapter(make_backend(other_bases[0])).detect_profile()
    assert (profile.name, profile.prices, profile.vat_by_ref) == (
        "ka2", "InformationRegister_ЦеныНоменклатуры25", True)


def test_missing_entity_sets_are_named_one_by_one(other_bases, db):
    backend = make_backend(other_bases[1])
    with pytest.raises(MissingEntitySets) as missing:
        OneCAdapter(backend).detect_profile()
    assert missing.value.missing == [
        "Catalog_Номенклатура", "Document_ЗаказКлиента",
        "InformationRegister_ЦеныНоменклатуры25 (или InformationRegister_ЦеныНоменклатуры)"]
    assert "Catalog_Номенклатура" in str(missing.value)
    assert "onec_profile" not in Backend.objects.get(pk=backend.pk).settings
