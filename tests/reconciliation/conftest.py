"""Fixtures of the reconciliation tests: the MoySklad and amoCRM sandboxes (real processes), an order of ours
placed in the ERP for a deal, and `settle` (the relay and the inbox run until nothing is due)."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import transaction

from catalog.models import Product, Warehouse
from counterparties.models import Counterparty
from integration import inbox, relay
from integration.amocrm.setup import prepare_account
from integration.erp.moysklad.catalog_sync import sync_catalog, sync_prices
from integration.erp.moysklad.stock_sync import sync_stock
from integration.outbox import load_handler_modules
from integration.sandbox.process import start_sandbox
from orders import actions, events
from orders.models import Order
from orders.types import Actor, CartLine
from tests.amocrm.conftest import (
    ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    as_manager,
    connect_backend,
)
from tests.erp.conftest import backend, entities, ms, ms_sandbox  # noqa: F401 - fixtures

ADMIN = Actor(source="admin")
DEAD_URL = "http://127.0.0.1:9"  # nothing listens: every webhook is lost


@pytest.fixture(scope="module")
def amo_process():
    sandbox = start_sandbox("amocrm", options={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
        "account_id": ACCOUNT_ID, "webhook_time_scale": 0.001,
    })
    yield sandbox
    sandbox.stop()


@pytest.fixture
def amo(amo_process, db):
    """The amoCRM sandbox, connected and prepared (its webhooks go nowhere), with one deal."""
    amo_process.reset()
    crm = connect_backend(amo_process, name="amocrm")
    prepare_account(crm, public_url=DEAD_URL)
    lead_id = as_manager(amo_process, "POST", "/api/v4/leads", [{"name": "Заявка"}])["_embedded"]["leads"][0]["id"]
    return SimpleNamespace(backend=crm, lead_id=lead_id, sandbox=amo_process)


def settle() -> None:
    """Deliver every due outbox event and process the inbox, as the queue worker does."""
    load_handler_modules()
    for _ in range(50):
        if not relay.relay_once("test") and not sum(inbox.process_inbox("test").values()):
            return
    raise AssertionError("the queue did not settle")


@pytest.fixture
def placed(backend, ms, amo):  # noqa: F811 - fixtures
    """The ERP's catalog, prices and stock mirrored; an order of ours for the deal (3 breakers), in the ERP and
    on the deal; everything delivered."""
    sync_catalog(backend, full=True)
    sync_prices(backend, full=True)
    sync_stock(backend, full=True)
    erp = entities(ms, "counterparty", "companyType=legal")[0]
    customer = Counterparty.objects.create(
        kind="legal", name=erp["name"], inn=erp["inn"], kpp=erp["kpp"], erp_id=erp["id"]
    )
    breaker = Product.objects.get(article="MVA20-1-016-C")
    order = actions.get_or_create_order_for_lead(
        amo.lead_id, counterparty=customer, warehouse=Warehouse.objects.get(name="Москва")
    )
    actions.set_cart(order, [CartLine(product_id=breaker.pk, quantity=Decimal("3"))], actor=ADMIN)
    with transaction.atomic():  # the deal shows the cart's products, as after the widget's "to the deal"
        events.crm_lead_products(order)
    settle()
    return Order.objects.get(pk=order.pk), breaker
