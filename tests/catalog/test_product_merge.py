"""Merging duplicate products: order lines, reserves, barcodes, packs and bindings move to the survivor, the
stock stays with the duplicate's ERP record, history is kept, the ERP is not called, and the plan names the ERP
record to archive; through the admin's confirmation page, refused without the permission."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from catalog.errors import MergeRefused
from catalog.merge import merge_products, plan_product_merge
from catalog.models import Barcode, Pack, Price, PriceList, Product, StockLevel
from integration.models import Backend, Binding, OutboxEvent
from integration.staff.groups import AUDITOR_GROUP, OPERATOR_GROUP
from orders.models import Order, OrderLine, Reservation
from tests.admin_ui.conftest import PASSWORD, make_user

from . import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins():
    """The same cable twice: the ERP's record and one a manager typed in with the same barcode on its pack."""
    erp = Backend.objects.create(name="erp", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/")
    crm = Backend.objects.create(name="crm", kind=Backend.Kind.AMOCRM, base_url="http://127.0.0.1:9/")
    keep = Product.objects.create(article="CAB-1", name="Кабель ВВГ", unit=f.unit(), erp_id="ms-1")
    dup = Product.objects.create(article="CAB-1-old", name="Кабель ВВГ", unit=f.unit(), erp_id="ms-2")
    box = f.unit("778", "упак")
    Pack.objects.create(product=keep, unit=box, factor=Decimal("10"), barcode="4600000000001")
    dup_pack = Pack.objects.create(product=dup, unit=box, factor=Decimal("10"), barcode="4600000000001")
    Barcode.objects.create(product=dup, value="4600000000099")
    retail = PriceList.objects.create(name="Розница", code="retail")
    Price.objects.create(product=keep, price_list=retail, amount=Decimal("100"))
    Price.objects.create(product=dup, price_list=retail, amount=Decimal("95"))
    store = f.warehouse("Основной")
    f.stock(dup, store, on_hand="7")
    order = Order.objects.create(lead_id=5001)
    line = OrderLine.objects.create(order=order, product=dup, pack=dup_pack, warehouse=store, quantity=Decimal("2"),
                                    base_quantity=Decimal("20"), price=Decimal("950"), total=Decimal("1900"))
    Reservation.objects.create(order=order, line=line, product=dup, warehouse=store, quantity=Decimal("20"))
    ct = ContentType.objects.get_for_model(Product)
    Binding.objects.create(backend=erp, content_type=ct, object_id=keep.pk, external_id="ms-1")
    Binding.objects.create(backend=erp, content_type=ct, object_id=dup.pk, external_id="ms-2")
    Binding.objects.create(backend=crm, content_type=ct, object_id=dup.pk, external_id="amo-77")
    return keep, dup, line, dup_pack


def test_the_merge_moves_lines_reserves_barcodes_packs_and_bindings_and_keeps_the_stock(twins):
    keep, dup, line, dup_pack = twins
    plan = plan_product_merge(keep, [dup])
    assert plan.erp_records_to_archive == ("CAB-1-old (ERP id ms-2)",)
    assert {m.model for m in plan.relations} >= {"orders.OrderLine", "orders.Reservation", "catalog.Barcode",
                                                 "catalog.Pack", "integration.Binding"}
    assert [m.model for m in plan.stays] == ["catalog.StockLevel"]

    result = merge_products(keep, [dup], reason="один товар заведён дважды")

    line.refresh_from_db()
    dup.refresh_from_db()
    dup_pack.refresh_from_db()
    assert line.product_id == keep.pk and line.pack_id == dup_pack.pk  # the line keeps its pack …
    assert dup_pack.product_id == keep.pk and not dup_pack.active  # … moved, inactive: the survivor has a box
    assert Reservation.objects.get().product_id == keep.pk
    assert Barcode.objects.get(value="4600000000099").product_id == keep.pk
    assert Price.objects.get().product_id == keep.pk  # the survivor's own price stays, the duplicate's is dropped
    assert StockLevel.objects.get().product_id == dup.pk
    ct = ContentType.objects.get_for_model(Product)
    assert sorted(Binding.objects.filter(content_type=ct, object_id=keep.pk).values_list("external_id", flat=True)
                  ) == ["amo-77", "ms-1"]
    assert any("ms-2" in item for item in result.dropped)
    assert dup.merged_into_id == keep.pk and not dup.active
    assert dup.history.first().history_change_reason.startswith("один товар заведён дважды")
    assert not OutboxEvent.objects.exists()  # the ERP is not touched


def test_products_of_different_base_units_are_not_merged(twins):
    keep, _dup, _line, _pack = twins
    metres = Product.objects.create(article="CAB-1-m", name="Кабель ВВГ", unit=f.unit("006", "м"))
    with pytest.raises(MergeRefused) as refused:
        merge_products(keep, [metres], reason="x")
    assert refused.value.reason == "unit" and Product.objects.get(pk=metres.pk).merged_into_id is None


def post_merge(client, products, **extra):
    return client.post(reverse("admin:catalog_product_changelist"), {
        "action": "merge_selected", ACTION_CHECKBOX_NAME: [p.pk for p in products], **extra})


def test_an_operator_merges_through_the_confirmation_page_and_an_auditor_may_not(client, twins):
    keep, dup, line, _pack = twins
    auditor = make_user("auditor1", AUDITOR_GROUP)
    assert client.login(username=auditor.username, password=PASSWORD)
    post_merge(client, [keep, dup], survivor=keep.pk, reason="x", confirm="yes")
    assert Product.objects.get(pk=dup.pk).merged_into_id is None  # no such action for an auditor

    operator = make_user("operator1", OPERATOR_GROUP)
    assert client.login(username=operator.username, password=PASSWORD)
    page = post_merge(client, [keep, dup]).content.decode()
    assert 'id="merge-plan"' in page and "CAB-1-old (ERP id ms-2)" in page
    assert Product.objects.get(pk=dup.pk).merged_into_id is None  # nothing moves before the confirmation

    done = post_merge(client, [keep, dup], survivor=keep.pk, reason="дубль", confirm="yes")

    assert done.status_code == 302
    line.refresh_from_db()
    assert line.product_id == keep.pk and Product.objects.get(pk=dup.pk).merged_into_id == keep.pk
