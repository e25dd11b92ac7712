import pytest

from catalog.duplicates import find_duplicate_products, normalize_name
from catalog.models import Barcode, Pack

from . import factories as f

pytestmark = pytest.mark.django_db


def test_normalised_names():
    assert normalize_name("  Кабель  ВВГнг «LS» 3х2,5 ёмкий ") == normalize_name("кабель ввгнг ls 3х2,5 емкий")


def test_shared_barcode_and_same_name_and_unit_are_duplicates():
    a = f.product("A-1", name="Лампа светодиодная A60 10 Вт")
    b = f.product("B-1", name="лампа  светодиодная A60 10 вт")
    c = f.product("C-1", name="Лампа светодиодная A60 10 Вт", okei="778")  # another unit: not a duplicate
    d, e = f.product("D-1"), f.product("E-1")
    Barcode.objects.create(product=d, value="4600000000017")
    Pack.objects.create(product=e, unit=f.unit("778", "упак"), factor=10, barcode="4600000000017")
    groups = {(g.reason, g.product_ids) for g in find_duplicate_products()}
    assert groups == {("name_unit", (a.pk, b.pk)), ("barcode", (d.pk, e.pk))}
    assert c.pk not in {pk for _r, ids in groups for pk in ids}
