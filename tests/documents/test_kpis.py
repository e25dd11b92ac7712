"""The five KPIs from fixture data whose figures can be checked by hand, and the staff KPI API."""

from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType

from catalog.models import Barcode, Pack, Warehouse
from counterparties.models import Counterparty, Phone
from documents.kpis import compute_kpis, kpi_series
from documents.models import Document
from integration.models import Backend, Conflict, OutboxEvent
from integration.staff.groups import AUDITOR_GROUP
from orders.models import Approval, Order, Reservation

from .factories import make_product, make_unit

MSK = ZoneInfo("Europe/Moscow")
NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)


def at(month, day, hour=12, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def make_orders():
    orders = {}
    for name, created, first_cart in [
        ("o1", at(11, 1), at(11, 5, 10)),
        ("o2", at(11, 1, 8), at(11, 1, 9)),
        ("o3", at(11, 9), at(11, 10, 0)),
        ("o4", at(10, 10), at(10, 10)),
    ]:
        order = Order.objects.create(first_cart_at=first_cart)
        Order.objects.filter(pk=order.pk).update(created_at=created)
        orders[name] = order
    return orders


def make_document(order, kind, status, *, requested, issued=None, mismatch=False):
    document = Document.objects.create(order=order, kind=kind, status=status, totals_mismatch=mismatch, issued_at=issued)
    Document.objects.filter(pk=document.pk).update(requested_at=requested)


@pytest.fixture
def data(db):
    o = make_orders()
    INV, ISSUED = Document.Kind.INVOICE, Document.Status.ISSUED
    make_document(o["o1"], INV, ISSUED, requested=at(11, 5, 10, 30), issued=at(11, 5, 12))  # 2 h after the cart
    make_document(o["o1"], INV, ISSUED, requested=at(11, 20), issued=at(11, 20, 10), mismatch=True)  # error
    make_document(o["o2"], INV, ISSUED, requested=at(11, 1, 10), issued=at(11, 2, 9))  # 24 h
    make_document(o["o3"], INV, ISSUED, requested=at(11, 10), issued=at(11, 11, 1))  # 25 h
    make_document(o["o3"], Document.Kind.UPD, Document.Status.FAILED, requested=at(11, 12))  # error
    make_document(o["o4"], INV, ISSUED, requested=at(10, 20), issued=at(10, 20, 13), mismatch=True)  # October

    ms = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://x")
    for order, status, created, key in [
        (o["o1"], "dead", at(11, 3), "a"),
        (o["o2"], "dead", at(11, 4), "b"),
        (o["o2"], "delivered", at(11, 4), "c"),
        (o["o3"], "delivered", at(11, 9), "d"),
        (o["o4"], "dead", at(10, 15), "e"),  # October
    ]:
        OutboxEvent.objects.create(backend=ms, topic="erp.order.upsert", aggregate_type="orders.order",
                                   aggregate_id=str(order.pk), idempotency_key=key, status=status, created_at=created)
    order_type = ContentType.objects.get_for_model(Order)
    Conflict.objects.create(content_type=order_type, object_id=o["o2"].pk, field="lines", created_at=at(11, 4))
    Conflict.objects.create(content_type=order_type, object_id=o["o3"].pk, field="lines", created_at=at(11, 9),
                            status=Conflict.Status.RESOLVED)

    warehouse = Warehouse.objects.create(name="Основной")
    product = make_product("P-1", "Ручка шариковая")
    for automatic, created in [(True, at(11, 2)), (True, at(11, 2)), (True, at(11, 16)), (False, at(11, 16)),
                               (False, at(10, 31))]:
        reservation = Reservation.objects.create(order=o["o1"], product=product, warehouse=warehouse,
                                                 quantity=D("1"), automatic=automatic)
        Reservation.objects.filter(pk=reservation.pk).update(created_at=created)

    for status, decided in [("approved", at(11, 7)), ("approved", at(11, 15)), ("rejected", at(11, 8)),
                            ("requested", None), ("approved", at(10, 30))]:
        Approval.objects.create(order=o["o1"], status=status, decided_at=decided)

    # duplicates: two individuals share a phone (1 group, 2 rows); a name twice and a barcode twice (2 groups, 4 rows)
    for name, phone in [("Иванов", "+79123456789"), ("Иванов И.", "+79123456789"), ("Петров", "+79000000000")]:
        person = Counterparty.objects.create(kind=Counterparty.Kind.INDIVIDUAL, name=name)
        Phone.objects.create(counterparty=person, number=phone)
    make_product("P-2", "РУЧКА  шариковая")
    Barcode.objects.create(product=make_product("P-3", "Тетрадь", unit=make_unit("778", "упак")), value="4600000000011")
    box = make_unit("778", "упак")
    Pack.objects.create(product=make_product("P-4", "Тетрадь 48 л."), unit=box, factor=D("10"), barcode="4600000000011")
    return o


def test_each_kpi_over_november(data):
    kpis = compute_kpis(NOV_1, NOV_30)
    # 1. errors: 5 documents requested in November, 2 of them wrong (a mismatch, a failure)
    assert (kpis.documents_total, kpis.documents_with_errors) == (5, 2)
    # orders: o1 (dead event), o2 (dead event and open conflict) — o3's conflict is resolved, o4's event is October's
    assert (kpis.orders_total, kpis.orders_with_errors) == (3, 2)
    # 2. reserves made in November: 3 automatic of 4
    assert (kpis.reservations_total, kpis.reservations_automatic, kpis.automatic_reserve_share) == (4, 3, D("0.7500"))
    # 3. quote → first invoice: 2 h, 24 h, 25 h → median 24 h, average (7200 + 86400 + 90000) / 3 = 61200 s
    assert kpis.quote_to_invoice_count == 3
    assert kpis.quote_to_invoice_median_seconds == 86400
    assert kpis.quote_to_invoice_average_seconds == 61200
    # 4. two approvals granted in November
    assert kpis.sales_in_minus == 2
    # 5. duplicates now
    assert (kpis.duplicate_counterparty_groups, kpis.duplicate_counterparties) == (1, 2)
    assert (kpis.duplicate_product_groups, kpis.duplicate_products) == (2, 4)


def test_october_is_separate(data):
    kpis = compute_kpis(date(2026, 10, 1), date(2026, 10, 31))
    assert (kpis.documents_total, kpis.documents_with_errors) == (1, 1)
    assert (kpis.orders_total, kpis.orders_with_errors) == (1, 1)
    assert kpis.automatic_reserve_share == D("0.0000")
    assert (kpis.quote_to_invoice_count, kpis.quote_to_invoice_median_seconds) == (1, 10 * 86400 + 3600)  # 10.10 12:00 → 20.10 13:00
    assert kpis.sales_in_minus == 1


def test_empty_period_has_no_shares_or_times(db):
    kpis = compute_kpis(NOV_1, NOV_30)
    assert kpis.automatic_reserve_share is None and kpis.quote_to_invoice_median_seconds is None
    assert kpis.documents_total == kpis.orders_with_errors == kpis.sales_in_minus == 0


def test_daily_and_weekly_series(data):
    days = kpi_series(NOV_1, NOV_30)
    assert len(days) == 30
    by_day = {point.date_from.day: point for point in days}
    assert by_day[12].documents_with_errors == 1 and by_day[20].documents_with_errors == 1
    assert sum(p.documents_with_errors for p in days) == 2
    assert by_day[2].automatic_reserve_share == D("1.0000") and by_day[16].automatic_reserve_share == D("0.5000")
    assert by_day[5].quote_to_invoice_median_seconds == 7200
    weeks = kpi_series(NOV_1, NOV_30, step="week")
    assert [(w.date_from.day, w.date_to.day) for w in weeks] == [(1, 7), (8, 14), (15, 21), (22, 28), (29, 30)]
    assert [w.sales_in_minus for w in weeks] == [1, 0, 1, 0, 0]  # approved on the 7th and the 15th
    assert [w.orders_with_errors for w in weeks] == [2, 0, 0, 0, 0]
    months = kpi_series(date(2026, 10, 15), NOV_30, step="month")
    assert [(m.date_from, m.date_to) for m in months] == [(date(2026, 10, 15), date(2026, 10, 31)), (NOV_1, NOV_30)]


@pytest.mark.parametrize(
    ("args", "field"),
    [((NOV_30, NOV_1), "date_to"), (("2026-11-01", NOV_30), "date_from"), ((NOV_1, NOV_30, "year"), "step")],
)
def test_bad_periods(db, args, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        kpi_series(*args)


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=AUDITOR_GROUP))  # KPIs need the view rights of orders and documents
    client.force_login(user)
    return client


def test_api_returns_the_kpis(staff_client, data):
    response = staff_client.get("/api/v1/kpis", {"from": "2026-11-01", "to": "2026-11-30", "step": "week"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kpis"]["documents_with_errors"] == 2
    assert body["kpis"]["automatic_reserve_share"] == "0.7500"
    assert body["kpis"]["quote_to_invoice_median_seconds"] == 86400
    assert body["kpis"]["date_from"] == "2026-11-01"
    assert len(body["series"]) == 5 and body["series"][0]["sales_in_minus"] == 1


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ({"from": "2026-13-01"}, {"from"}),
        ({"from": "2026-11-01", "to": "yesterday"}, {"to"}),
        ({"from": "x", "to": "y"}, {"from", "to"}),
        ({"from": "2026-11-30", "to": "2026-11-01"}, {"to"}),
        ({"from": "2020-01-01", "to": "2026-11-30", "step": "day"}, {"step"}),
        ({"step": "hour"}, {"step"}),
    ],
)
def test_api_rejects_bad_dates_per_field(staff_client, query, errors):
    response = staff_client.get("/api/v1/kpis", query)
    assert response.status_code == 400
    assert set(response.json()) == errors


def test_api_is_for_staff_only(client, db):
    assert client.get("/api/v1/kpis").status_code == 403
    client.force_login(get_user_model().objects.create_user("manager", password="x"))
    assert client.get("/api/v1/kpis").status_code == 403
    client.force_login(get_user_model().objects.create_user("staff-no-rights", password="x", is_staff=True))
    assert client.get("/api/v1/kpis").status_code == 403
