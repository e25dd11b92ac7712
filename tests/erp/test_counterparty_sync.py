"""The `counterparties` sync from MoySklad: requisites, contacts and price type → segment; matched and bound,
never duplicated; invalid requisites reported, not imported; incremental by cursor."""

import pytest

from catalog.models import PriceList, Segment
from counterparties.models import Counterparty, Email, Phone
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.erp.moysklad.counterparty_sync import apply_counterparty, sync_counterparties
from integration.models import SyncRun
from integration.syncs import run_sync
from tests.erp.conftest import entities, raw

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(backend):
    sync_catalog(backend, full=True)  # price types → our price lists
    return backend


def _erp(ms, name_end):
    (found,) = [c for c in entities(ms, "counterparty") if c["name"].endswith(name_end)]
    return found


def _price_type(ms, code):
    status, _, types = raw(ms, "GET", "/context/companysettings/pricetype")
    return next(t for t in types if t["externalCode"] == code)


def test_full_import_binds_local_rows_takes_segments_and_never_duplicates(catalog, ms):
    erp_dealer = _erp(ms, "Электромонтаж-Сервис»")
    wholesale = PriceList.objects.get(code="wholesale")
    hand_set = Segment.objects.create(name="Ручной", code="manual", price_list=wholesale)
    ours = Counterparty.objects.create(kind="legal", name="Электромонтаж (наш)", inn=erp_dealer["inn"],
                                       kpp=erp_dealer["kpp"], segment=hand_set)
    petrov = Counterparty.objects.create(kind="individual", name="Петров")
    Phone.objects.create(counterparty=petrov, number="+79161234567", is_primary=True)
    mikhailova = Counterparty.objects.create(kind="individual", name="Михайлова")
    Email.objects.create(counterparty=mikhailova, address="E.Mikhailova@gmail.com", is_primary=True)

    run = run_sync("counterparties", catalog, full=True)

    assert run.status == SyncRun.Status.SUCCEEDED
    erp_count = len(entities(ms, "counterparty"))
    # The sandbox holds two deliberate duplicates (the same person, the phone written differently).
    assert Counterparty.objects.count() == erp_count - 2
    assert run.failed == 2 and all("duplicate" in e for e in run.details["errors"]), run.details
    assert run.created == erp_count - 5 and run.updated == 3  # our three rows were bound, not recreated
    ours.refresh_from_db()
    assert ours.erp_id == erp_dealer["id"] and ours.name == erp_dealer["name"]
    assert ours.full_name == erp_dealer["legalTitle"]
    assert ours.segment.price_list.erp_id == erp_dealer["priceType"]["id"]  # the ERP's price type wins
    assert ours.segment.price_list.code == "dealer"
    assert sorted(ours.emails.values_list("address", flat=True)) == sorted(
        [erp_dealer["email"], erp_dealer["email"].replace("info@", "zakaz@")]  # the contact person's e-mail too
    )
    petrov.refresh_from_db()
    assert petrov.erp_id is not None and petrov.name == "Петров Пётр Сергеевич"
    mikhailova.refresh_from_db()
    assert mikhailova.erp_id is not None and mikhailova.name == "Михайлова Елена Викторовна"
    head_office = _erp(ms, "СтройЭлектро»")
    branches = Counterparty.objects.filter(inn=head_office["inn"]).values_list("kpp", flat=True)
    assert sorted(branches) == sorted([head_office["kpp"], "781043001"])  # a branch is its own row, not a duplicate
    assert Counterparty.objects.filter(segment__isnull=False).count() == Counterparty.objects.count()

    history = Counterparty.history.count()
    again = sync_counterparties(catalog)  # incremental, nothing changed in the ERP
    assert (again.created, again.updated, again.failed) == (0, 0, 2), again.details
    assert Counterparty.history.count() == history  # no history row for an unchanged counterparty


def test_incremental_run_takes_a_new_price_type_and_contact(catalog, ms):
    sync_counterparties(catalog, full=True)
    erp = _erp(ms, "СтройЭлектро»")
    dealer = _price_type(ms, "dealer")
    raw(ms, "PUT", f"/entity/counterparty/{erp['id']}", body={"priceType": {"meta": dealer["meta"]}})
    raw(ms, "POST", f"/entity/counterparty/{erp['id']}/contactpersons",
        body={"name": "Снабженец", "phone": "8 (495) 700-00-01", "email": "Buyer@Example.Ru"})

    run = sync_counterparties(catalog)

    assert (run.created, run.updated) == (0, 1), run.details
    local = Counterparty.objects.get(erp_id=erp["id"])
    assert local.segment.price_list.code == "dealer"
    assert "+74957000001" in local.phones.values_list("number", flat=True)
    assert "buyer@example.ru" in [a.lower() for a in local.emails.values_list("address", flat=True)]


def test_invalid_requisites_are_reported_and_nothing_of_them_written(catalog, ms):
    raw(ms, "POST", "/entity/counterparty",
        body={"name": "ООО «Ошибка»", "companyType": "legal", "inn": "7707083894", "kpp": "770701001",
              "phone": "+7 495 111-22-33"})
    raw(ms, "POST", "/entity/counterparty",
        body={"name": "ООО «Верные реквизиты»", "companyType": "legal", "inn": "7707083893", "kpp": "770701001",
              "phone": "доб. 12", "email": "ok@example.ru"})

    run = sync_counterparties(catalog, full=True)

    assert not Counterparty.objects.filter(name="ООО «Ошибка»").exists()
    assert not Phone.objects.filter(number="+74951112233").exists()
    assert any("Ошибка" in e and "inn" in e for e in run.details["errors"]), run.details
    kept = Counterparty.objects.get(inn="7707083893")
    assert list(kept.emails.values_list("address", flat=True)) == ["ok@example.ru"] and not kept.phones.exists()
    assert any("доб. 12" in w for w in run.details["warnings"])


def test_dry_run_writes_nothing_and_one_counterparty_can_be_applied(catalog, ms):
    run = sync_counterparties(catalog, full=True, dry_run=True)
    assert run.created > 0 and Counterparty.objects.count() == 0 and Email.objects.count() == 0
    assert not Segment.objects.exists()
    erp = _erp(ms, "Северная Энергия»")
    outcome = apply_counterparty(catalog, erp["id"])
    assert outcome.created == 1 and Counterparty.objects.get().erp_id == erp["id"]
    assert apply_counterparty(catalog, erp["id"]).unchanged == 1


def test_a_pinned_segment_survives_the_erps_new_price_type(catalog, ms):
    from django.contrib.auth import get_user_model

    from integration.models import Conflict
    from integration.overrides import pin_value

    sync_counterparties(catalog, full=True)
    erp = _erp(ms, "СтройЭлектро»")
    local = Counterparty.objects.get(erp_id=erp["id"])
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    retail = Segment.objects.create(name="Договорной", code="contract", price_list=PriceList.objects.get(code="retail"))
    pin_value(local, "segment", retail, author=staff, reason="договорные цены до конца года")
    dealer = _price_type(ms, "dealer")
    raw(ms, "PUT", f"/entity/counterparty/{erp['id']}", body={"priceType": {"meta": dealer["meta"]},
                                                               "legalTitle": "ООО «СтройЭлектро» (новое)"})

    run = sync_counterparties(catalog)

    assert run.status == SyncRun.Status.SUCCEEDED, run.details
    local.refresh_from_db()
    assert local.segment_id == retail.pk  # pinned by staff
    assert local.full_name == "ООО «СтройЭлектро» (новое)"  # not pinned: the ERP's
    conflict = Conflict.objects.get(object_id=local.pk, field="segment", content_type__model="counterparty")
    assert (conflict.policy, conflict.status) == ("override", "open")
