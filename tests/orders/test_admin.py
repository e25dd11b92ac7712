from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from orders import actions
from orders.errors import InsufficientStock
from orders.models import Order
from orders.types import Actor, CartLine
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def awaiting():
    wh = f.warehouse()
    item = f.product("AD-1")
    f.stock(item, wh, 1)
    order = actions.get_or_create_order_for_lead(3001)
    with pytest.raises(InsufficientStock):
        actions.set_cart(order, [CartLine(item.pk, Decimal("2"))], actor=Actor(source="crm"))
    return order


def staff(client, username, *perms):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="orders", codename__in=perms))
    client.force_login(user)
    return user


def test_changelist_and_change_page_render(client, awaiting):
    staff(client, "viewer", "view_order", "view_orderline", "view_reservation", "view_approval", "view_shipment")
    assert client.get(reverse("admin:orders_order_changelist")).status_code == 200
    page = client.get(reverse("admin:orders_order_change", args=[awaiting.pk]))
    assert page.status_code == 200 and b"AD-1" in page.content
    assert client.get(reverse("admin:orders_order_history", args=[awaiting.pk])).status_code == 200


def test_approve_action_needs_the_right(client, awaiting):
    staff(client, "clerk", "view_order", "change_order")
    url = reverse("admin:orders_order_changelist")
    page = client.get(url)
    assert b"approve_shortage" not in page.content
    client.post(url, {"action": "approve_shortage", "_selected_action": [awaiting.pk], "reason": "ok"})
    awaiting.refresh_from_db()
    assert awaiting.status == Order.Status.AWAITING_APPROVAL

    boss = staff(client, "boss", "view_order", "change_order", "approve_shortage")
    client.post(url, {"action": "approve_shortage", "_selected_action": [awaiting.pk], "reason": "pays upfront"})
    awaiting.refresh_from_db()
    assert awaiting.status == Order.Status.RESERVE_PENDING
    assert awaiting.approvals.get(status="approved").decided_by == boss

    client.post(url, {"action": "cancel_orders", "_selected_action": [awaiting.pk]})
    awaiting.refresh_from_db()
    assert awaiting.status == Order.Status.CANCELLED
