"""`field__any=values`: the rows `__in` selects, with one array parameter on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Barcode, StockLevel
from tests.catalog import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_any_selects_what_in_selects_with_one_parameter():
    product = factories.product()
    odd = ["a'b", "c,d", '{e}"f', "g h"]
    for value in odd:
        Barcode.objects.create(product=product, value=value)
    full = Barcode.objects.create(product=product, value="4" * 64)
    wanted = [*odd[:3], "absent", None, "4" * 65]  # a longer value is not cut to the column's length
    assert sorted(Barcode.objects.filter(value__any=wanted).values_list("value", flat=True)) == sorted(odd[:3])
    assert list(Barcode.objects.filter(value__any=[full.value])) == [full]
    warehouses = [factories.warehouse(), factories.warehouse()]
    rows = [StockLevel.objects.create(product=product, warehouse=w) for w in warehouses]
    with CaptureQueriesContext(connection) as ctx:
        found = list(StockLevel.objects.filter(product_id__any={product.pk}, warehouse_id__any=[warehouses[1].pk]))
    assert found == [rows[1]]
    assert ctx.captured_queries[0]["sql"].count("= ANY(") == 2
    assert list(StockLevel.objects.filter(pk__any=[])) == []
    assert StockLevel.objects.filter(pk__any=[r.pk for r in rows]).update(on_hand=5) == 2
