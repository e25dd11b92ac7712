"""Overrides are respected by apply_remote_values, conflicts are recorded and resolved onto the object."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.models import PriceList, Segment
from counterparties.models import Counterparty
from integration.conflicts import record_conflict, resolve_conflict
from integration.errors import ConflictAlreadyResolved
from integration.models import Conflict, Override
from integration.overrides import active_override, apply_remote_values, pin_value

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("ops", password="x", is_staff=True)


@pytest.fixture
def company():
    return Counterparty.objects.create(name="ООО Ромашка", inn="7707083893", kpp="770701001")


def test_apply_remote_values_sets_fields_and_reports_changes(company):
    wholesale = Segment.objects.create(name="Опт", code="opt", price_list=PriceList.objects.create(name="Опт", code="opt"))
    changed = apply_remote_values(company, {"name": "ООО Ромашка", "kpp": "770801001", "segment": wholesale})
    assert changed == ["kpp", "segment"]
    assert company.kpp == "770801001" and company.segment_id == wholesale.pk
    assert apply_remote_values(company, {"kpp": "770801001", "segment": wholesale.pk}) == []
    assert not Conflict.objects.exists()


def test_override_is_kept_and_a_conflict_recorded_once(company, staff):
    pin = pin_value(company, "name", "Ромашка (VIP)", author=staff, reason="клиент просил", expires_at=timezone.now() + timedelta(days=7))
    company.refresh_from_db()
    assert company.name == "Ромашка (VIP)"  # pinning applies the value
    assert active_override(company, "name").pk == pin.pk
    for _ in range(2):  # two nightly syncs bring the same ERP value
        changed = apply_remote_values(company, {"name": "ООО Ромашка", "kpp": "770701001"})
        assert changed == []
    conflict = Conflict.objects.get()
    assert (conflict.field, conflict.erp_value, conflict.crm_value) == ("name", "ООО Ромашка", "Ромашка (VIP)")
    assert (conflict.policy, conflict.status, conflict.occurrences) == ("override", "open", 2)
    # CRM-side values (erp_values=False) land on the CRM side of the conflict
    apply_remote_values(company, {"name": "Ромашка CRM"}, erp_values=False)
    assert Conflict.objects.filter(crm_value="Ромашка CRM", erp_value="Ромашка (VIP)").exists()


def test_expired_override_no_longer_applies(company, staff):
    pin_value(company, "name", "Pinned", author=staff, reason="r")
    Override.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert active_override(company, "name") is None
    assert apply_remote_values(company, {"name": "ERP name"}) == ["name"]


def test_pin_needs_a_reason_and_a_valid_value(company, staff):
    with pytest.raises(ValidationError, match="reason"):
        pin_value(company, "name", "x", author=staff, reason=" ")
    with pytest.raises(ValidationError):
        pin_value(company, "kpp", "x" * 20, author=staff, reason="too long")
    with pytest.raises(ValidationError, match="no field 'colour'"):
        pin_value(company, "colour", "red", author=staff, reason="r")


def test_resolve_take_crm_applies_the_value_and_lifts_a_differing_pin(company, staff):
    pin_value(company, "name", "Ромашка (VIP)", author=staff, reason="r")
    apply_remote_values(company, {"name": "ООО Ромашка"})
    conflict = Conflict.objects.get()
    resolve_conflict(conflict, "take_erp", user=staff, reason="ERP прав")
    company.refresh_from_db()
    assert company.name == "ООО Ромашка"
    assert not Override.objects.exists()  # staff decided: the pin is lifted
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolution, conflict.resolved_by, conflict.reason) == ("resolved", "take_erp", staff, "ERP прав")
    assert conflict.history.first().history_user == staff
    with pytest.raises(ConflictAlreadyResolved):
        resolve_conflict(conflict, "take_crm", user=staff)


def test_resolve_manual_value_is_validated(company, staff):
    conflict = record_conflict(company, "kpp", erp_value="770701001", crm_value="770801001", auto_resolved=False)
    with pytest.raises(ValidationError, match="needs a value"):
        resolve_conflict(conflict, "manual", user=staff)
    with pytest.raises(ValidationError, match="kpp"):
        resolve_conflict(conflict, "manual", user=staff, value="1" * 20)
    resolve_conflict(conflict, "manual", user=staff, value="771001001", reason="уточнили у бухгалтерии")
    company.refresh_from_db()
    assert company.kpp == "771001001"
    assert Conflict.objects.get().manual_value == "771001001"


def test_record_conflict_defaults_to_erp_wins_auto_resolved(company):
    conflict = record_conflict(company, "lines.A-1.quantity", erp_value="3", crm_value="5")
    assert (conflict.policy, conflict.status, conflict.resolution) == ("erp_wins", "auto_resolved", "take_erp")
    assert not conflict.history.exists()  # machine-made rows write no history


def test_derived_field_conflicts_are_closed_without_touching_the_object(company, staff):
    conflict = record_conflict(company, "lines.A-1.quantity", erp_value="3", crm_value="5", auto_resolved=False)
    resolve_conflict(conflict, "take_erp", user=staff, reason="ERP wins")
    conflict.refresh_from_db()
    assert conflict.status == "resolved"
    company.refresh_from_db()
    assert company.name == "ООО Ромашка"


def test_batch_pins_load_once_keep_pinned_values_and_record_conflicts(company, staff, django_assert_num_queries):
    from integration.overrides import lift_override, load_pins

    other = Counterparty.objects.create(name="ООО Лютик", inn="7702070139", kpp="770201001")
    pin = pin_value(company, "name", "Ромашка (VIP)", author=staff, reason="клиент просил")
    with django_assert_num_queries(1):
        pins = load_pins(Counterparty, [company.pk, other.pk])
    assert company.pk in pins and other.pk not in pins
    remote = {"name": "ООО Ромашка", "kpp": "770801001"}
    assert pins.apply(company.pk, remote) == {"name": "Ромашка (VIP)", "kpp": "770801001"}
    assert pins.apply(other.pk, {"name": "ООО Лютик"}) == {"name": "ООО Лютик"}
    assert pins.apply(company.pk, {"name": "Ромашка (VIP)"}) == {"name": "Ромашка (VIP)"}  # agrees: no conflict
    assert not Conflict.objects.exists()  # queued until recorded
    assert pins.record_conflicts() == 1
    conflict = Conflict.objects.get()
    assert (conflict.field, conflict.erp_value, conflict.crm_value, conflict.policy, conflict.status) == (
        "name", "ООО Ромашка", "Ромашка (VIP)", "override", "open"
    )
    assert pins.pinned_hash(other.pk, "d" * 64) == "d" * 64
    pinned = pins.pinned_hash(company.pk, "d" * 64)
    assert len(pinned) == 64 and pinned != "d" * 64
    lift_override(pin, user=staff)
    assert load_pins(Counterparty, [company.pk]).pinned_hash(company.pk, "d" * 64) == "d" * 64
