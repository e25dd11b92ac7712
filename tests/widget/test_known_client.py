"""The search's one-query deal check (leads.known_client) answers as check_lead(party=True) does whenever it
answers, and leaves to check_lead exactly the deals that need amoCRM (or a merged counterparty's survivor)."""

import itertools
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Price, PriceList, Product, Segment
from counterparties.models import Counterparty
from integration.bindings import bind
from integration.widget.leads import CrmUnavailable, check_lead, known_client
from integration.widget.models import WidgetLead
from integration.widget.search import ProductQuery, search_products, warehouse_names
from orders.models import Order
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

WIDGET_LEAD = ["none", "recent+client", "recent", "old+client", "old"]
ORDER = ["none", "client", "no client"]
BINDING = ["none", "this order", "another order"]
CLIENT = ["plain", "merged"]


def test_known_client_answers_as_check_lead_or_leaves_the_deal_to_it():
    amo = f.amocrm_backend()
    amo.base_url = "http://127.0.0.1:9"  # amoCRM cannot be reached: a deal check that asks it fails
    amo.save()
    ContentType.objects.get_for_model(Order)  # cached per process, as in a served request
    wholesale = PriceList.objects.create(name="Опт", code="wholesale", currency="USD")
    segment = Segment.objects.create(name="Опт", code="opt", price_list=wholesale)
    service = f.product("SRV-1", price=100, kind=Product.Kind.SERVICE)  # no stock: nothing to refresh
    Price.objects.create(product=service, price_list=wholesale, amount=f.D(80))
    warehouse_names(set())  # the per-process cache of warehouse names warm, as in a served request
    answered = left = 0
    for n, (widget_lead, order_state, binding, client_state) in enumerate(
            itertools.product(WIDGET_LEAD, ORDER, BINDING, CLIENT)):
        lead_id = 1000 + n
        client = Counterparty.objects.create(name=f"ООО {n}", kind="individual", segment=segment if n % 2 else None)
        if client_state == "merged":
            survivor = Counterparty.objects.create(name=f"ООО {n} (главная)", kind="individual")
            client.merged_into = survivor
            client.save()
        if widget_lead != "none":
            at = timezone.now() - (timedelta(seconds=5) if widget_lead.startswith("recent") else timedelta(hours=1))
            WidgetLead.objects.create(backend=amo, lead_id=lead_id, checked_at=at,
                                      counterparty=client if widget_lead.endswith("+client") else None)
        order = None
        if order_state != "none":
            order = Order.objects.create(lead_id=lead_id, counterparty=client if order_state == "client" else None)
        if binding == "this order" and order is not None:
            bind(amo, order, str(lead_id))
        elif binding == "another order":
            bind(amo, Order.objects.create(), str(lead_id))

        with CaptureQueriesContext(connection) as queries:
            known, client_id = known_client(amo.pk, lead_id)
        assert len(queries) == 1
        try:
            checked = check_lead(amo, lead_id, party=True)
        except CrmUnavailable:
            checked = None
        state = (widget_lead, order_state, binding, client_state)
        # The search checks the deal in its page query: the same page as for the client known_client names, and
        # check_lead (client_of) is asked exactly when known_client leaves the deal to it.
        asked = []

        def client_of(lead, checked=checked, asked=asked):
            asked.append(lead)
            return checked.counterparty.pk if checked is not None and checked.counterparty else None

        with CaptureQueriesContext(connection) as queries:
            page = search_products(ProductQuery(q="SRV", lead_id=lead_id, backend_id=amo.pk), client_of=client_of)
        if known:
            answered += 1
            assert checked is not None, state  # check_lead answered without amoCRM too…
            assert client_id == (checked.counterparty.pk if checked.counterparty else None), state  # …the same
            assert not asked and len(queries) == 1, state
            assert page == search_products(ProductQuery(q="SRV", lead_id=lead_id, counterparty_id=client_id)), state
        else:
            left += 1
            assert checked is None or client_state == "merged", state  # it needed amoCRM, or the survivor
            assert asked == [lead_id], state
            if checked is not None:
                client = checked.counterparty.pk if checked.counterparty else None
                assert page == search_products(ProductQuery(q="SRV", lead_id=lead_id, counterparty_id=client)), state
    assert answered > 20 and left > 20
    assert Price.objects.filter(price_list=wholesale).exists()
