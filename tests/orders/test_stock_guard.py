from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from counterparties.models import Counterparty
from integration.models import OutboxEvent
from orders import actions
from orders.errors import InsufficientStock, InvalidCart, OrderClosed, Shortage
from orders.models import Approval, Order, Reservation
from orders.types import Actor, CartLine, ErpOrderLine, ErpOrderSnapshot
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
MANAGER = Actor(crm_user_id=501, source="widget")


@pytest.fixture
def wh():
    return f.warehouse()


def active(order):
    return list(order.reservations.filter(status__in=["pending", "confirmed"]).order_by("product_id"))


def test_plain_line_is_priced_reserved_and_events_enqueued(wh):
    f.erp_backend()
    f.amocrm_backend()
    item = f.product("A-1", price="99.99")
    f.stock(item, wh, 10)
    order = actions.get_or_create_order_for_lead(1001, counterparty=Counterparty.objects.create(name="ООО Ромашка"))
    result = actions.set_cart(order, [CartLine(item.pk, Decimal("3"))], comment="call first", actor=MANAGER)
    order.refresh_from_db()
    assert result.status == Order.Status.RESERVE_PENDING and result.fully_reserved
    assert [(line.requested, line.reserved, line.short) for line in result.lines] == [(3, 3, 0)]
    assert order.total == Decimal("299.97") and order.vat_total == Decimal("54.09")
    assert order.version == 2 and order.first_cart_at is not None and order.comment == "call first"
    [res] = active(order)
    assert (res.quantity, res.status, res.automatic) == (3, "pending", True)
    topics = dict(OutboxEvent.objects.values_list("topic", "idempotency_key"))
    assert topics["erp.order.upsert"] == f"{order.uuid}:v2"
    assert "crm.lead.sync" in topics
    first_cart_at = order.first_cart_at
    actions.set_cart(order, [CartLine(item.pk, Decimal("4"))], actor=MANAGER)
    order.refresh_from_db()
    assert order.version == 3 and order.first_cart_at == first_cart_at
    assert [r.quantity for r in active(order)] == [4]
    assert OutboxEvent.objects.filter(topic="erp.order.upsert", idempotency_key=f"{order.uuid}:v3").exists()


def test_packs_reserve_in_base_units(wh):
    item = f.product("P-1", price="10.00")
    box = f.pack(item, 12)
    f.stock(item, wh, 30)
    order = actions.get_or_create_order_for_lead(1002)
    actions.set_cart(order, [CartLine(item.pk, Decimal("2"), pack_id=box.pk)], actor=MANAGER)
    line = order.lines.get()
    assert (line.quantity, line.base_quantity, line.price, line.total) == (2, 24, Decimal("120.00"), Decimal("240.00"))
    assert [r.quantity for r in active(order)] == [24]
    with pytest.raises(InsufficientStock) as exc:
        actions.set_cart(order, [CartLine(item.pk, Decimal("3"), pack_id=box.pk)], actor=MANAGER)
    [short] = exc.value.shortages
    assert (short.requested, short.available, short.reason) == (36, 30, Shortage.REASON_STOCK)


def test_kits_reserve_their_components(wh):
    a, b = f.product("C-A"), f.product("C-B")
    f.stock(a, wh, 7)
    f.stock(b, wh, 10)
    bundle = f.kit("K-1", [(a, 2), (b, 1)])
    order = actions.get_or_create_order_for_lead(1003)
    actions.set_cart(order, [CartLine(bundle.pk, Decimal("3"))], actor=MANAGER)
    assert [(r.product_id, r.quantity) for r in active(order)] == [(a.pk, 6), (b.pk, 3)]
    other = actions.get_or_create_order_for_lead(1004)
    with pytest.raises(InsufficientStock) as exc:
        actions.set_cart(other, [CartLine(bundle.pk, Decimal("1"))], actor=MANAGER)
    assert exc.value.shortages[0].available == 0  # 7 − 6 = 1 piece of A left, a kit needs 2


def test_batch_without_the_requested_batch_is_refused(wh):
    item = f.product("B-1", tracking=Product.Tracking.BATCH)
    good, empty = f.batch(item, "L-01"), f.batch(item, "L-02")
    f.stock(item, wh, 5, batch=good)
    f.stock(item, wh, 0, batch=empty)
    order = actions.get_or_create_order_for_lead(1005)
    with pytest.raises(InsufficientStock) as exc:
        actions.set_cart(order, [CartLine(item.pk, Decimal("3"), batch_id=empty.pk)], actor=MANAGER)
    [short] = exc.value.shortages
    assert (short.reason, short.batch_id, short.available) == ("batch unavailable", empty.pk, 0)
    assert not active(order)
    actions.set_cart(order, [CartLine(item.pk, Decimal("3"), batch_id=good.pk)], actor=MANAGER)
    assert [(r.batch_id, r.quantity) for r in active(order)] == [(good.pk, 3)]


def test_all_or_nothing_and_approval_requested(wh):
    a, b = f.product("N-A"), f.product("N-B")
    f.stock(a, wh, 10)
    f.stock(b, wh, 1)
    order = actions.get_or_create_order_for_lead(1006)
    with pytest.raises(InsufficientStock) as exc:
        actions.set_cart(order, [CartLine(a.pk, Decimal("2")), CartLine(b.pk, Decimal("3"))], actor=MANAGER)
    assert [(s.index, s.product_id, s.requested, s.available) for s in exc.value.shortages] == [(1, b.pk, 3, 1)]
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_APPROVAL and order.lines.count() == 2
    assert not active(order)
    approval = order.approvals.get()
    assert approval.status == Approval.Status.REQUESTED
    assert approval.shortage[0]["product_id"] == b.pk and approval.shortage[0]["available"] == "1.000"


def test_pending_reservations_of_other_orders_count_until_the_erp_snapshot_contains_them(wh):
    item = f.product("R-1")
    level = f.stock(item, wh, 10)
    first = actions.get_or_create_order_for_lead(1007)
    second = actions.get_or_create_order_for_lead(1008)
    actions.set_cart(first, [CartLine(item.pk, Decimal("6"))], actor=MANAGER)
    with pytest.raises(InsufficientStock):
        actions.set_cart(second, [CartLine(item.pk, Decimal("5"))], actor=MANAGER)
    # The ERP confirms the first order, but its stock snapshot predates the confirmation: still counted.
    actions.apply_erp_order(first, ErpOrderSnapshot("erp-1", "00001", "Новый",
                                                    [ErpOrderLine(item.pk, Decimal("6"), Decimal("100"), Decimal("6"))]))
    with pytest.raises(InsufficientStock):
        actions.set_cart(second, [CartLine(item.pk, Decimal("5"))], actor=MANAGER)
    # A newer snapshot shows the ERP's reserve: our row is contained and not counted twice.
    from django.utils import timezone
    level.reserved, level.snapshot_at = Decimal("6"), timezone.now()
    level.save()
    actions.set_cart(second, [CartLine(item.pk, Decimal("4"))], actor=MANAGER)
    # The first order re-carting hands its own contained reserve back: 10 − 6 (ERP) − 4 (second) + 6 (own).
    first.refresh_from_db()
    actions.set_cart(first, [CartLine(item.pk, Decimal("6"))], actor=MANAGER)
    with pytest.raises(InsufficientStock):
        actions.set_cart(first, [CartLine(item.pk, Decimal("7"))], actor=MANAGER)


def test_stock_rows_are_locked_in_primary_key_order(wh):
    w2 = f.warehouse("Second")
    a, b = f.product("L-A"), f.product("L-B")
    for item in (b, a):
        f.stock(item, w2, 5)
        f.stock(item, wh, 5)
    order = actions.get_or_create_order_for_lead(1009)
    with CaptureQueriesContext(connection) as ctx:
        actions.set_cart(order, [CartLine(b.pk, Decimal("1"), warehouse_id=w2.pk), CartLine(a.pk, Decimal("1"), warehouse_id=wh.pk)],
                         actor=MANAGER)
    locks = [q["sql"] for q in ctx.captured_queries if "FOR UPDATE" in q["sql"] and "catalog_stocklevel" in q["sql"]]
    assert len(locks) == 1
    assert 'ORDER BY "catalog_stocklevel"."id" ASC' in locks[0] and 'FOR UPDATE OF "catalog_stocklevel"' in locks[0]
    order_lock = [q["sql"] for q in ctx.captured_queries if "FOR UPDATE" in q["sql"] and '"orders_order"' in q["sql"]]
    assert order_lock and ctx.captured_queries.index(
        next(q for q in ctx.captured_queries if q["sql"] == order_lock[0])
    ) < ctx.captured_queries.index(next(q for q in ctx.captured_queries if q["sql"] == locks[0]))


def test_invalid_lines_name_the_field(wh):
    item, other = f.product("V-1"), f.product("V-2")
    box = f.pack(other, 6)
    unpriced = f.product("V-3", price=None)
    order = actions.get_or_create_order_for_lead(1010)
    cases = [
        (CartLine(item.pk, Decimal("0")), "lines[0].quantity"),
        (CartLine(item.pk, Decimal("1"), pack_id=box.pk), "lines[0].pack"),
        (CartLine(999999, Decimal("1")), "lines[0].product"),
        (CartLine(unpriced.pk, Decimal("1")), "lines[0].price"),
        (CartLine(item.pk, Decimal("1"), discount_percent=Decimal("120")), "lines[0].discount_percent"),
    ]
    for line, field in cases:
        with pytest.raises(InvalidCart) as exc:
            actions.set_cart(order, [line], actor=MANAGER)
        assert exc.value.field == field


def test_cancel_releases_and_enqueues_the_erp_cancel(wh):
    f.erp_backend()
    item = f.product("X-1")
    f.stock(item, wh, 3)
    order = actions.get_or_create_order_for_lead(1011)
    actions.set_cart(order, [CartLine(item.pk, Decimal("3"))], actor=MANAGER)
    actions.cancel(order, MANAGER)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and not active(order)
    assert OutboxEvent.objects.filter(topic="erp.order.cancel", idempotency_key=f"{order.uuid}:cancel").exists()
    with pytest.raises(OrderClosed):
        actions.set_cart(order, [CartLine(item.pk, Decimal("1"))], actor=MANAGER)
    assert Reservation.objects.filter(order=order, status="released").count() == 1


def test_the_erp_order_waits_for_the_counterparty(wh):
    f.erp_backend()
    item = f.product("W-1")
    f.stock(item, wh, 5)
    order = actions.get_or_create_order_for_lead(1012)
    actions.set_cart(order, [CartLine(item.pk, Decimal("2"))], actor=MANAGER)
    assert not OutboxEvent.objects.filter(topic="erp.order.upsert").exists()  # the ERP needs a counterparty
    client = Counterparty.objects.create(name="ООО Лютик")
    actions.get_or_create_order_for_lead(1012, counterparty=client)
    order.refresh_from_db()
    assert order.counterparty == client
    assert OutboxEvent.objects.get(topic="erp.order.upsert").idempotency_key == f"{order.uuid}:v{order.version}"


def test_deactivated_components_prices_and_packs_are_ignored(wh):
    """Children the ERP dropped are deactivated, not deleted (issue 11 item 8): nothing reads them."""
    from catalog.models import KitComponent, Pack, Price

    a, b = f.product("D-A", price="10.00"), f.product("D-B")
    f.stock(a, wh, 10)
    bundle = f.kit("D-K", [(a, 2), (b, 1)])
    KitComponent.all_objects.filter(kit=bundle, component=b).update(active=False)  # B has no stock at all
    order = actions.get_or_create_order_for_lead(1101)
    actions.set_cart(order, [CartLine(bundle.pk, Decimal("3"))], actor=MANAGER)
    assert [(r.product_id, r.quantity) for r in active(order)] == [(a.pk, 6)]
    box = f.pack(a, 5)
    Pack.all_objects.filter(pk=box.pk).update(active=False)
    with pytest.raises(InvalidCart) as exc:
        actions.set_cart(order, [CartLine(a.pk, Decimal("1"), pack_id=box.pk)], actor=MANAGER)
    assert exc.value.field == "lines[0].pack"
    Price.all_objects.filter(product=a).update(active=False)
    with pytest.raises(InvalidCart) as exc:
        actions.set_cart(order, [CartLine(a.pk, Decimal("1"))], actor=MANAGER)
    assert exc.value.field == "lines[0].price"
