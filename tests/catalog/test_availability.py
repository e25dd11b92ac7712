from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from catalog.availability import get_availability, get_batch_availability, in_pack, to_base

from . import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def msk():
    return f.warehouse("Москва")


@pytest.fixture
def spb():
    return f.warehouse("Санкт-Петербург")


def test_available_is_on_hand_minus_reserved_plus_expected_per_warehouse_and_total(msk, spb):
    p = f.product()
    f.stock(p, msk, "100", "30", "20")
    f.stock(p, spb, "10", "10", "0")
    result = get_availability([p.pk])[p.pk]
    assert result.by_warehouse[msk.pk].available == D("90")
    assert result.by_warehouse[spb.pk].available == D("0")
    assert result.total.on_hand == D("110")
    assert result.total.reserved == D("40")
    assert result.total.expected == D("20")
    assert result.total.available == D("90")


def test_warehouse_filter_and_missing_warehouse_reported_as_zero(msk, spb):
    p = f.product()
    f.stock(p, msk, "5")
    result = get_availability([p.pk], warehouse_ids=[spb.pk])[p.pk]
    assert result.by_warehouse == {spb.pk: result.by_warehouse[spb.pk]}
    assert result.total.available == D("0")
    assert result.snapshot_at is None


def test_extra_reserved_is_held_back_and_counted_as_reserved(msk, spb):
    p = f.product()
    f.stock(p, msk, "50", "5")
    f.stock(p, spb, "20")
    result = get_availability([p.pk], extra_reserved={(p.pk, msk.pk): D("12.5")})[p.pk]
    assert result.by_warehouse[msk.pk].available == D("32.5")
    assert result.by_warehouse[msk.pk].reserved == D("17.5")
    assert result.by_warehouse[spb.pk].available == D("20")
    assert result.total.available == D("52.5")


def test_extra_reserved_without_stock_row_goes_negative(msk):
    p = f.product()
    result = get_availability([p.pk], extra_reserved={(p.pk, msk.pk): D("3")})[p.pk]
    assert result.by_warehouse[msk.pk].available == D("-3")


def test_kit_is_min_over_components_of_floor_available_per_quantity(msk, spb):
    screwdriver, tape = f.product(), f.product()
    k = f.kit((screwdriver, "1"), (tape, "2"))
    f.stock(screwdriver, msk, "10")
    f.stock(tape, msk, "7")  # ⌊7/2⌋ = 3 kits
    f.stock(screwdriver, spb, "1")
    f.stock(tape, spb, "100", "10", "5")  # ⌊95/2⌋ = 47 → min(1, 47) = 1 kit
    result = get_availability([k.pk])[k.pk]
    assert result.by_warehouse[msk.pk].available == D("3")
    assert result.by_warehouse[spb.pk].available == D("1")
    # In total: screwdrivers 11, tape 102 → min(11, 51) = 11.
    assert result.total.available == D("11")
    for figures in [*result.by_warehouse.values(), result.total]:
        assert figures.available == figures.on_hand - figures.reserved + figures.expected


def test_kit_with_fractional_quantity_and_extra_reserved_on_a_component(msk):
    cable, box = f.product(okei="006"), f.product()
    k = f.kit((cable, "2.5"), (box, "1"))
    f.stock(cable, msk, "26")
    f.stock(box, msk, "100")
    assert get_availability([k.pk])[k.pk].by_warehouse[msk.pk].available == D("10")
    held = get_availability([k.pk], extra_reserved={(cable.pk, msk.pk): D("2")})[k.pk]
    assert held.by_warehouse[msk.pk].available == D("9")


def test_kit_and_its_components_together_and_snapshot_is_oldest(msk):
    a, b = f.product(), f.product()
    k = f.kit((a, "1"), (b, "1"))
    old = timezone.now() - timedelta(minutes=7)
    f.stock(a, msk, "4", snapshot_at=old)
    f.stock(b, msk, "9")
    result = get_availability([k.pk, a.pk, b.pk])
    assert result[k.pk].total.available == D("4")
    assert result[a.pk].total.available == D("4")
    assert result[k.pk].snapshot_at == old
    assert result[b.pk].snapshot_at > old


def test_batches_summed_for_the_product_and_given_per_batch(msk):
    lamp = f.product(tracking="batch")
    b1, b2 = f.batch(lamp, "B-1"), f.batch(lamp, "B-2")
    f.stock(lamp, msk, "10", "2", batch=b1)
    f.stock(lamp, msk, "5", "0", "3", batch=b2)
    assert get_availability([lamp.pk])[lamp.pk].total.available == D("16")
    per_batch = get_batch_availability(lamp.pk, msk.pk)
    assert per_batch[b1.pk].available == D("8")
    assert per_batch[b2.pk].available == D("8")
    held = get_batch_availability(lamp.pk, msk.pk, extra_reserved={b2.pk: D("8")})
    assert held[b2.pk].available == D("0")


def test_two_queries_for_many_products(django_assert_max_num_queries, msk, spb):
    parts = [f.product() for _ in range(20)]
    for p in parts:
        f.stock(p, msk, "10")
        f.stock(p, spb, "3")
    kits = [f.kit((parts[i], "1"), (parts[i + 1], "2")) for i in range(0, 20, 2)]
    with django_assert_max_num_queries(2):
        result = get_availability([p.pk for p in parts + kits])
    assert len(result) == 30
    assert result[kits[0].pk].total.available == D("6")


def test_packs_in_and_out_of_base_units():
    p = f.product()
    box = f.pack(p, "12")
    assert in_pack(D("30"), box) == D("2")
    assert in_pack(D("-1"), box) == D("-1")
    assert to_base(D("3"), box) == D("36")
    assert in_pack(D("7.5"), None) == D("7.5")
    assert to_base(D("7.5"), None) == D("7.5")
    reel = f.pack(f.product(okei="006"), "100", okei="736")
    assert in_pack(D("250.5"), reel) == D("2")


def test_unknown_and_empty_products():
    assert get_availability([]) == {}
    result = get_availability([999999])
    assert result[999999].total.available == D("0")


def test_a_deactivated_kit_component_is_not_counted(msk):
    from catalog.models import KitComponent

    a, b = f.product(), f.product()
    f.stock(a, msk, "10")
    bundle = f.kit((a, "2"), (b, "1"))  # b has no stock: the kit is unavailable…
    assert get_availability([bundle.pk])[bundle.pk].total.available == 0
    KitComponent.all_objects.filter(kit=bundle, component=b).update(active=False)  # …until the ERP drops b
    assert get_availability([bundle.pk])[bundle.pk].total.available == 5
