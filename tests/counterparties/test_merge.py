import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection

from counterparties.errors import MergeRefused
from counterparties.merge import merge_counterparties, plan_merge
from counterparties.models import Counterparty
from integration.models import Backend, Binding
from orders.models import Order

from . import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("merger", is_staff=True)


def backend(name: str, kind: str = "moysklad") -> Backend:
    return Backend.objects.create(name=name, kind=kind, base_url="http://127.0.0.1:1")


def bind(backend: Backend, obj, external_id: str) -> Binding:
    return Binding.objects.create(backend=backend, content_type=ContentType.objects.get_for_model(obj),
                                  object_id=obj.pk, external_id=external_id)


@pytest.fixture
def people():
    survivor = f.individual("Петров Пётр Сергеевич", phones=["+79161234567"], emails=["petrov@mail.ru"])
    dup1 = f.individual("Петров П. С.", phones=["+7 916 1234567", "+79031112233"], emails=["PETROV@mail.ru"],
                        legal_address="Москва, ул. Ленина, 1")
    dup2 = f.individual("Пётр", emails=["p.petrov@yandex.ru"], crm_id="crm-77")
    return survivor, dup1, dup2


def test_plan_lists_everything_that_moves_and_changes_nothing(people):
    survivor, dup1, dup2 = people
    Order.objects.create(counterparty=dup1)
    Order.objects.create(counterparty=dup2)
    Order.objects.create(counterparty=survivor)
    erp, crm = backend("ms"), backend("amo", "amocrm")
    bind(erp, survivor, "ms-1")
    bind(erp, dup1, "ms-2")
    bind(crm, dup2, "amo-9")

    plan = plan_merge(survivor, [dup1, dup2])
    assert {(m.model, m.field, m.count) for m in plan.relations} == {("orders.Order", "counterparty", 2)}
    assert plan.phones_moved == ("+79031112233",)
    assert plan.phones_dropped == ("+79161234567",)
    assert plan.emails_moved == ("p.petrov@yandex.ru",)
    assert plan.emails_dropped == ("PETROV@mail.ru",)
    assert [(b.backend, b.external_id, b.moved) for b in plan.bindings] == [("ms", "ms-2", False), ("amo", "amo-9", True)]
    assert dict(plan.fields_filled) == {"legal_address": "Москва, ул. Ленина, 1", "crm_id": "crm-77"}
    assert Order.objects.filter(counterparty=survivor).count() == 1
    assert Counterparty.objects.filter(merged_into__isnull=False).count() == 0


def test_merge_moves_every_reference_and_records_history(people, staff):
    survivor, dup1, dup2 = people
    orders = [Order.objects.create(counterparty=dup1), Order.objects.create(counterparty=dup2)]
    earlier = f.individual("Старый дубль", phones=["+79265550011"])
    Counterparty.objects.filter(pk=earlier.pk).update(merged_into=dup1)
    erp, crm = backend("ms"), backend("amo", "amocrm")
    bind(erp, survivor, "ms-1")
    bind(erp, dup1, "ms-2")
    bind(crm, dup2, "amo-9")

    result = merge_counterparties(survivor, [dup1, dup2], user=staff, reason="один клиент")

    assert result.merged_ids == (dup1.pk, dup2.pk)
    for order in orders:
        order.refresh_from_db()
        assert order.counterparty_id == survivor.pk
        last = order.history.latest()
        assert last.counterparty_id == survivor.pk
        assert last.history_user == staff
        assert "один клиент" in last.history_change_reason
    survivor.refresh_from_db()
    assert sorted(survivor.phones.values_list("number", flat=True)) == ["+79031112233", "+79161234567"]
    assert sorted(survivor.emails.values_list("address", flat=True)) == ["p.petrov@yandex.ru", "petrov@mail.ru"]
    assert survivor.crm_id == "crm-77"
    assert survivor.legal_address == "Москва, ул. Ленина, 1"
    ct = ContentType.objects.get_for_model(Counterparty)
    assert set(Binding.objects.filter(content_type=ct).values_list("external_id", "object_id")) == {
        ("ms-1", survivor.pk), ("amo-9", survivor.pk)}
    for dup in (dup1, dup2):
        dup.refresh_from_db()
        assert dup.merged_into_id == survivor.pk
        assert dup.phones.count() == 0 and dup.emails.count() == 0
        record = dup.history.latest()
        assert record.history_user == staff and "один клиент" in record.history_change_reason
    earlier.refresh_from_db()
    assert earlier.merged_into_id == survivor.pk
    assert survivor.history.latest().history_change_reason.startswith("один клиент")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: (f.legal(inn="7707083893"), f.entrepreneur()), "kind"),
        (lambda: (f.legal(), f.legal()), "inn"),
        (lambda: (f.legal(inn="7707083893", kpp="770701001"), f.legal(inn="7707083893", kpp="781043001")), "branch"),
        (lambda: (f.entrepreneur(), f.entrepreneur()), "inn"),
    ],
)
def test_refused_merges(make, reason, staff):
    survivor, dup = make()
    with pytest.raises(MergeRefused) as info:
        merge_counterparties(survivor, [dup], user=staff, reason="x")
    assert info.value.reason == reason
    dup.refresh_from_db()
    assert dup.merged_into_id is None


def test_refuses_already_merged_and_self(people, staff):
    survivor, dup1, dup2 = people
    merge_counterparties(survivor, [dup1], user=staff, reason="x")
    with pytest.raises(MergeRefused) as info:
        merge_counterparties(survivor, [Counterparty.objects.get(pk=dup1.pk)], user=staff, reason="x")
    assert info.value.reason == "already_merged"
    with pytest.raises(MergeRefused) as info:
        merge_counterparties(survivor, [survivor], user=staff, reason="x")
    assert info.value.reason == "self"


@pytest.mark.postgres
def test_an_error_mid_way_leaves_nothing_changed(people, staff):
    survivor, dup1, dup2 = people
    order = Order.objects.create(counterparty=dup1)
    bind(backend("amo", "amocrm"), dup2, "amo-9")
    with connection.cursor() as cursor:
        # A real failure after the orders moved: the phones table refuses updates.
        cursor.execute("""
            CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$
            LANGUAGE plpgsql;
            CREATE TRIGGER refuse_phone_moves BEFORE UPDATE ON counterparties_phone FOR EACH ROW EXECUTE FUNCTION refuse();
        """)
    with pytest.raises(DatabaseError):
        merge_counterparties(survivor, [dup1, dup2], user=staff, reason="x")
    order.refresh_from_db()
    assert order.counterparty_id == dup1.pk
    assert not order.history.filter(history_change_reason__contains="x (merge").exists()
    assert Binding.objects.get(external_id="amo-9").object_id == dup2.pk
    assert Counterparty.objects.filter(merged_into__isnull=False).count() == 0
    assert dup1.phones.count() == 2


def test_generic_references_move_and_a_clashing_one_is_dropped_and_listed(people, staff):
    from integration.models import Conflict, Override

    survivor, dup1, _dup2 = people
    ct = ContentType.objects.get_for_model(Counterparty)
    conflict = Conflict.objects.create(content_type=ct, object_id=dup1.pk, field="name", erp_value="a", crm_value="b")
    Override.objects.create(content_type=ct, object_id=survivor.pk, field="name", value="S", reason="kept")
    clashing = Override.objects.create(content_type=ct, object_id=dup1.pk, field="name", value="D", reason="dup")
    moving = Override.objects.create(content_type=ct, object_id=dup1.pk, field="segment", value=1, reason="dup")

    plan = plan_merge(survivor, [dup1])
    assert {(m.model, m.count) for m in plan.relations} >= {("integration.Conflict", 1), ("integration.Override", 2)}
    result = merge_counterparties(survivor, [dup1], user=staff, reason="x")

    conflict.refresh_from_db()
    moving.refresh_from_db()
    assert conflict.object_id == survivor.pk
    assert moving.object_id == survivor.pk
    assert not Override.objects.filter(pk=clashing.pk).exists()
    assert len(result.dropped) == 1 and "override" in result.dropped[0].lower()
    assert Override.objects.get(object_id=survivor.pk, field="name").value == "S"
