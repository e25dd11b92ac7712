"""50 carts race for the last 10 units over separate database connections (threads)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from catalog.availability import get_availability
from orders import actions
from orders.availability import sellable_availability
from orders.errors import InsufficientStock
from orders.models import Reservation
from orders.types import Actor, CartLine
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def race(product_id: int, orders: list, quantity: Decimal) -> tuple[int, int, list]:
    barrier = threading.Barrier(len(orders))
    outcomes, errors = [], []

    def worker(order):
        try:
            barrier.wait(timeout=30)
            actions.set_cart(order, [CartLine(product_id, quantity)], actor=Actor(source="widget", crm_user_id=1))
            outcomes.append("ok")
        except InsufficientStock:
            outcomes.append("short")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes.count("ok"), outcomes.count("short"), errors


def test_fifty_carts_for_the_last_ten_units():
    wh = f.warehouse()
    item = f.product("RACE-1")
    f.stock(item, wh, 10)
    orders = [actions.get_or_create_order_for_lead(9000 + i) for i in range(50)]
    ok, short, errors = race(item.pk, orders, Decimal("1"))
    assert errors == []
    assert (ok, short) == (10, 40)
    reserved = sum(r.quantity for r in Reservation.objects.filter(product=item, status="pending"))
    assert reserved == 10
    assert get_availability([item.pk])[item.pk].total.available == 10  # the ERP snapshot is untouched
    assert sellable_availability([item.pk])[item.pk].total.available == 0  # ours held back: none negative
