from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from counterparties.models import Counterparty
from integration.models import OutboxEvent
from orders import actions
from orders.errors import InsufficientStock, InvalidInput, NotAllowed
from orders.models import Approval, Order, Reservation
from orders.types import Actor, CartLine, ErpOrderLine, ErpOrderSnapshot, ShipmentInput, ShipmentLineInput
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
MANAGER = Actor(crm_user_id=501, source="widget")


@pytest.fixture
def short_order():
    wh = f.warehouse()
    a, b = f.product("S-A"), f.product("S-B")
    f.stock(a, wh, 10)
    f.stock(b, wh, 1)
    order = actions.get_or_create_order_for_lead(2001, counterparty=Counterparty.objects.create(name="ООО Ромашка"))
    with pytest.raises(InsufficientStock):
        actions.set_cart(order, [CartLine(a.pk, Decimal("2")), CartLine(b.pk, Decimal("3"))], actor=MANAGER)
    return order, a, b


def test_non_approvers_are_refused(short_order):
    order, _a, _b = short_order
    with pytest.raises(NotAllowed):
        actions.approve_shortage(order, MANAGER, "client pays upfront")
    clerk = User.objects.create_user("clerk", is_staff=True)
    with pytest.raises(NotAllowed):  # can_approve claimed but the user lacks the permission
        actions.approve_shortage(order, Actor(user=clerk, can_approve=True), "client pays upfront")
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_APPROVAL
    assert not order.reservations.exists()


def test_approver_records_and_counts_the_sale_in_minus(short_order):
    order, a, b = short_order
    f.erp_backend()
    boss = User.objects.create_user("boss", is_staff=True)
    boss.user_permissions.add(Permission.objects.get(codename="approve_shortage"))
    boss = User.objects.get(pk=boss.pk)
    actor = Actor(user=boss, can_approve=True, source="admin")
    with pytest.raises(InvalidInput) as exc:
        actions.approve_shortage(order, actor, "  ")
    assert exc.value.field == "reason"
    result = actions.approve_shortage(order, actor, "client pays upfront")
    assert result.status == Order.Status.RESERVE_PENDING
    reservations = {r.product_id: r for r in order.reservations.filter(status="pending")}
    assert (reservations[a.pk].quantity, reservations[a.pk].automatic) == (2, True)
    assert (reservations[b.pk].quantity, reservations[b.pk].automatic) == (3, False)
    approval = order.approvals.get(status=Approval.Status.APPROVED)
    assert approval.decided_by == boss and approval.decided_at and approval.reason == "client pays upfront"
    assert OutboxEvent.objects.filter(topic="erp.order.upsert").count() == 1
    # The KPI "sales в минус": approved approvals with non-automatic reserves.
    assert Approval.objects.filter(status="approved", order__reservations__automatic=False).distinct().count() == 1


def test_widget_approver_by_crm_user_id(short_order):
    order, _a, b = short_order
    result = actions.approve_shortage(order, Actor(crm_user_id=777, can_approve=True, source="widget"), "VIP")
    assert [line.short for line in result.lines] == [0, 2]
    assert order.approvals.get(status="approved").decided_by_crm_user == 777


def test_erp_wins_lines_follow_and_conflicts_are_recorded():
    from integration.models import Conflict

    wh = f.warehouse()
    f.amocrm_backend()
    a, b, c = f.product("E-A", price=100), f.product("E-B", price=50), f.product("E-C", price=30)
    for item in (a, b, c):
        f.stock(item, wh, 20)
    order = actions.get_or_create_order_for_lead(2002)
    actions.set_cart(order, [CartLine(a.pk, Decimal("5")), CartLine(b.pk, Decimal("2"))], actor=MANAGER)
    now = timezone.now()
    snapshot = ErpOrderSnapshot(
        "erp-2002", "00042", "Подтверждён",
        [ErpOrderLine(a.pk, Decimal("4"), Decimal("100"), Decimal("4")),
         ErpOrderLine(c.pk, Decimal("1"), Decimal("30"), Decimal("1"))],
        updated_at=now,
    )
    actions.apply_erp_order(order, snapshot)
    order.refresh_from_db()
    assert (order.erp_id, order.erp_number, order.erp_state, order.status) == (
        "erp-2002", "00042", "Подтверждён", Order.Status.RESERVED)
    assert [(line.product_id, line.base_quantity) for line in order.lines.all()] == [(a.pk, 4), (c.pk, 1)]
    assert order.total == Decimal("430.00")
    held = {r.product_id: (r.quantity, r.status) for r in order.reservations.exclude(status="released")}
    assert held == {a.pk: (4, "confirmed"), c.pk: (1, "confirmed")}
    fields = set(Conflict.objects.values_list("field", flat=True))
    assert {"lines.E-A.quantity", "lines.E-B.quantity", "lines.E-C.quantity"} <= fields
    assert OutboxEvent.objects.filter(topic="crm.lead.products").count() == 1
    # An older snapshot is skipped.
    stale = ErpOrderSnapshot("erp-2002", "00042", "Новый", [], updated_at=now - timedelta(minutes=1))
    actions.apply_erp_order(order, stale)
    assert order.lines.count() == 2


def test_unchanged_composition_only_confirms():
    wh = f.warehouse()
    a = f.product("U-A", price=100)
    f.stock(a, wh, 20)
    order = actions.get_or_create_order_for_lead(2003)
    actions.set_cart(order, [CartLine(a.pk, Decimal("5"))], actor=MANAGER)
    actions.apply_erp_order(order, ErpOrderSnapshot("erp-2003", "7", "Новый",
                                                    [ErpOrderLine(a.pk, Decimal("5"), Decimal("100"), Decimal("5"))]))
    [res] = order.reservations.all()
    assert res.status == "confirmed" and res.confirmed_at is not None and res.line_id is not None


def test_a_pack_price_with_half_a_kopeck_per_unit_is_not_an_erp_change():
    """150.25 for a pack of 10 is 15.025 a piece: the ERP is sent 15.03 (half up) and answers 15.03 — the same
    price, not a conflict that rewrites the manager's line."""
    from integration.models import Conflict

    wh = f.warehouse()
    a = f.product("H-A", price=100)
    box = f.pack(a, 10)
    f.stock(a, wh, 50)
    order = actions.get_or_create_order_for_lead(2004)
    actions.set_cart(order, [CartLine(a.pk, Decimal("1"), pack_id=box.pk, price=Decimal("150.25"))], actor=MANAGER)
    actions.apply_erp_order(order, ErpOrderSnapshot("erp-2004", "8", "Новый", [
        ErpOrderLine(a.pk, Decimal("10"), Decimal("15.03"), Decimal("10"))]))
    assert not Conflict.objects.exists()
    [line] = order.lines.all()
    assert (line.pack_id, line.price) == (box.pk, Decimal("150.25"))


def test_shipments_and_returns_roll_up():
    wh = f.warehouse()
    a, b = f.product("H-A"), f.product("H-B")
    f.stock(a, wh, 20)
    f.stock(b, wh, 20)
    order = actions.get_or_create_order_for_lead(2004)
    actions.set_cart(order, [CartLine(a.pk, Decimal("5")), CartLine(b.pk, Decimal("2"))], actor=MANAGER)
    now = timezone.now()
    first = actions.register_shipment(order, ShipmentInput(now, [ShipmentLineInput(a.pk, Decimal("3"))], erp_id="d-1"))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert Reservation.objects.get(order=order, product=a, status="pending").quantity == 2
    # The same ERP shipment again changes nothing.
    assert actions.register_shipment(order, ShipmentInput(now, [ShipmentLineInput(a.pk, Decimal("3"))],
                                                          erp_id="d-1")) == first
    actions.register_shipment(order, ShipmentInput(now, [ShipmentLineInput(a.pk, Decimal("2")),
                                                         ShipmentLineInput(b.pk, Decimal("2"))], erp_id="d-2"))
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert not order.reservations.exclude(status="released").exists()
    assert [(line.shipped_quantity, line.returned_quantity) for line in order.lines.all()] == [(5, 0), (2, 0)]
    actions.register_return(order, ShipmentInput(now, [ShipmentLineInput(b.pk, Decimal("1"))], erp_id="r-1"))
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED and order.lines.get(product=b).returned_quantity == 1
    actions.register_return(order, ShipmentInput(now, [ShipmentLineInput(a.pk, Decimal("5")),
                                                       ShipmentLineInput(b.pk, Decimal("1"))], erp_id="r-2"))
    order.refresh_from_db()
    assert order.status == Order.Status.CLOSED
    assert order.shipments.filter(is_return=True).count() == 2
