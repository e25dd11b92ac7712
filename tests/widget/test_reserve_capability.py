"""The widget reads the ERP connector's capabilities, not its kind: an ERP that does not reserve in the same
call that writes the order makes the cart's answer say that the ERP will confirm the reserve."""

import pytest

from counterparties.models import Counterparty
from integration import connectors
from integration.models import Backend, OutboxEvent
from orders import actions
from tests.orders import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
BASE = "/api/widget/v1"
KIND = "test_erp"


def erp_connector(*, synchronous_reserve: bool):
    """A registered ERP kind whose order handler accepts the order (as a 1C base without reserves does)."""
    connectors.register(connectors.Connector(
        kind=KIND, role=connectors.Role.ERP, adapter=lambda backend: None, label="1С",
        capabilities=connectors.Capabilities(synchronous_reserve=synchronous_reserve),
        outbox_handlers={"erp.order.upsert": lambda event: {"accepted": event.payload["order_id"]}},
    ))
    Backend.objects.create(name="erp", kind=KIND, base_url="https://erp.example.test/")


@pytest.fixture
def cart():
    item = f.product("CAP-1")
    main = f.warehouse("Main")
    f.stock(item, main, 5)
    yield {"lines": [{"product": item.pk, "quantity": "2", "warehouse": main.pk}]}
    connectors.unregister(KIND)


@pytest.mark.parametrize(("synchronous_reserve", "language", "note"), [
    (False, "ru", "Резерв будет подтверждён в 1С."),
    (False, "en", "The reserve will be confirmed by 1С."),
    (True, "ru", ""),
])
def test_the_cart_answer_says_who_confirms_the_reserve(manager, deal, cart, synchronous_reserve, language, note):
    erp_connector(synchronous_reserve=synchronous_reserve)
    manager.language = language
    lead = deal()
    actions.get_or_create_order_for_lead(lead, counterparty=Counterparty.objects.create(name="ООО Ромашка"))
    response = manager.put(f"{BASE}/leads/{lead}/order", cart)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "reserve_pending" and body["reserve_note"] == note
    event = OutboxEvent.objects.get(topic="erp.order.upsert")
    assert event.backend.kind == KIND and event.status == OutboxEvent.Status.DELIVERED  # served by the test kind


def test_no_note_without_an_erp(manager, deal, cart):
    body = manager.put(f"{BASE}/leads/{deal()}/order", cart).json()
    assert body["reserve_note"] == ""
