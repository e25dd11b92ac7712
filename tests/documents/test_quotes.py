"""Quotes (КП): the KPI "quote → invoice" starts at the first quote when there is one (at the first cart
otherwise); the admin makes a quote of an order, refused without the right."""

from datetime import date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from documents.kpis import compute_kpis
from documents.models import Document
from integration.staff.groups import ADMIN_GROUP, OPERATOR_GROUP
from orders.models import Order

from .factories import make_order, make_our_organization

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")


def at(day, hour):
    return datetime(2026, 11, day, hour, tzinfo=MSK)


def issued(order, kind, when):
    return Document.objects.create(order=order, kind=kind, status=Document.Status.ISSUED, issued_at=when)


def test_quote_to_invoice_starts_at_the_first_quote_else_at_the_first_cart():
    quoted = Order.objects.create(first_cart_at=at(2, 9))
    issued(quoted, Document.Kind.QUOTE, at(3, 10))  # the first quote: the clock starts here
    issued(quoted, Document.Kind.QUOTE, at(3, 15))
    issued(quoted, Document.Kind.INVOICE, at(3, 12))  # 2 h after the first quote
    cart_only = Order.objects.create(first_cart_at=at(5, 9))
    issued(cart_only, Document.Kind.INVOICE, at(5, 13))  # 4 h after the cart
    late_quote = Order.objects.create(first_cart_at=at(6, 9))
    issued(late_quote, Document.Kind.INVOICE, at(6, 15))  # 6 h after the cart; the quote came after the invoice
    issued(late_quote, Document.Kind.QUOTE, at(6, 16))

    kpis = compute_kpis(date(2026, 11, 1), date(2026, 11, 30))

    assert kpis.quote_to_invoice_count == 3
    assert kpis.quote_to_invoice_median_seconds == 4 * 3600
    assert kpis.quote_to_invoice_average_seconds == 4 * 3600  # (2 + 4 + 6) / 3


def user_in(group: str):
    user = get_user_model().objects.create_user(group.split()[-1], password="pw-123456", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_the_admin_makes_a_quote_of_an_order_and_an_operator_may_not(client):
    make_our_organization()
    order = make_order([("Кабель", "2", "100.00", "22")])
    url = reverse("admin:documents_document_quote", args=[order.pk])
    client.force_login(user_in(OPERATOR_GROUP))
    assert client.get(url).status_code == 403
    client.force_login(user_in(ADMIN_GROUP))
    assert 'id="make-quote"' in client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    until = timezone.localdate() + timedelta(days=7)

    past = client.post(url, {"valid_until": (timezone.localdate() - timedelta(days=1)).isoformat()})
    response = client.post(url, {"valid_until": until.isoformat()})

    assert past.status_code == 200 and "past" in past.content.decode()
    quote = Document.objects.get(kind=Document.Kind.QUOTE)
    assert response.status_code == 302 and response["Location"].endswith(f"/{quote.pk}/change/")
    assert quote.status == Document.Status.ISSUED and quote.valid_until == until and quote.pdf
    assert quote.total == D("200.00") and quote.requested_by.startswith("admin:")
