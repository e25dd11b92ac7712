"""The connector registry: the one list of backend kinds; a newly registered ERP kind is served by the domain
code unchanged, a kind nobody registered is refused with a typed error."""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from catalog.models import Warehouse
from counterparties.models import Counterparty
from documents.models import OurOrganization
from documents.supplier import get_supplier
from integration import connectors, relay
from integration.erp.services import erp_backend, refresh_stock_for
from integration.models import Backend, OutboxEvent
from integration.staff.mirrored import erp_master
from orders import actions
from orders.types import Actor, CartLine
from orders.warehouses import backend_default_warehouse_id
from tests.orders import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TEST_KIND = "test_erp"


@dataclass
class RecordingAdapter:
    """The test kind's adapter: it remembers the orders it was asked to write."""

    backend: Backend
    written: list


@pytest.fixture
def test_erp_connector():
    written: list[int] = []

    def upsert(event: OutboxEvent) -> dict:
        adapter = connectors.adapter_for(event.backend, role=connectors.Role.ERP)
        adapter.written.append(event.payload["order_id"])
        return {"served_by": adapter.backend.kind}

    connectors.register(connectors.Connector(
        kind=TEST_KIND, role=connectors.Role.ERP,
        adapter=lambda backend: RecordingAdapter(backend, written),
        outbox_handlers={"erp.order.upsert": upsert},
    ))
    yield written
    connectors.unregister(TEST_KIND)


def test_the_registry_knows_the_installed_connectors():
    assert "moysklad" in connectors.erp_kinds()
    assert connectors.crm_kinds() == ("amocrm",)
    moysklad = connectors.connector("moysklad")
    assert moysklad.capabilities.synchronous_reserve and moysklad.capabilities.webhooks
    assert {"erp.order.upsert", "erp.order.cancel", "erp.document.request"} <= set(moysklad.outbox_handlers)
    with pytest.raises(connectors.UnknownConnector) as exc:
        connectors.connector("commerceml")
    assert exc.value.kind == "commerceml" and "commerceml" in str(exc.value)


def test_a_registered_erp_kind_is_served_without_touching_domain_code(test_erp_connector):
    wh = f.warehouse()
    item = f.product("R-1")
    f.stock(item, wh, 5)
    backend = Backend.objects.create(name="other-erp", kind=TEST_KIND, base_url="https://erp.example.test/",
                                     settings={"default_warehouse": "wh-1"})
    Warehouse.objects.filter(pk=wh.pk).update(erp_id="wh-1")
    OurOrganization.objects.create(backend=backend, source=OurOrganization.Source.ERP, erp_id="org-1",
                                   name="ООО Наша", inn="7701234567")

    assert erp_backend() == erp_master() == connectors.active_erp() == backend
    assert backend_default_warehouse_id() == wh.pk
    assert get_supplier().name == "ООО Наша"
    assert refresh_stock_for([item.pk], budget_seconds=1) is False  # the kind has no on-demand stock

    order = actions.get_or_create_order_for_lead(3001, counterparty=Counterparty.objects.create(name="ООО Ромашка"))
    actions.set_cart(order, [CartLine(item.pk, Decimal("2"))], actor=Actor(crm_user_id=501, source="widget"))
    event = OutboxEvent.objects.get(topic="erp.order.upsert")
    assert event.backend == backend
    relay.relay_once("w1")
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DELIVERED and event.result == {"served_by": TEST_KIND}
    assert test_erp_connector == [order.pk]


def test_an_unregistered_kind_is_refused_with_a_typed_error(test_erp_connector):
    stray = Backend.objects.create(name="cml", kind="legacy_erp", base_url="https://cml.example.test/")
    assert connectors.active_erp() is None  # a kind nobody registered is nobody's ERP
    with pytest.raises(connectors.UnknownConnector):
        connectors.adapter_for(stray)
    amocrm = f.amocrm_backend()
    with pytest.raises(connectors.UnknownConnector, match="is a crm, not a erp"):
        connectors.adapter_for(amocrm, role=connectors.Role.ERP)

    from integration import outbox

    event = outbox.enqueue(backend=stray, topic="erp.order.upsert", aggregate="order:1", payload={"order_id": 1})
    relay.relay_once("w1")
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DEAD
    assert "no connector is registered for backend kind 'legacy_erp'" in event.last_error


@pytest.mark.django_db(transaction=True)
def test_backends_of_the_retired_commerceml_kind_become_the_1c_exchange():
    """"commerceml" was offered in the admin with no connector behind it; such a backend is 1C's CommerceML
    exchange ("onec_cml"), the one that serves it."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("integration", "0009_outbox_claim_index")])
    try:
        Old = executor.loader.project_state([("integration", "0009_outbox_claim_index")]).apps.get_model(
            "integration", "Backend")
        Old.objects.create(name="cml", kind="commerceml", base_url="https://cml.example.test/")
        executor = MigrationExecutor(connection)
        executor.migrate([("integration", "0010_retire_commerceml_kind")])
        assert Backend.objects.get(name="cml").kind == Backend.Kind.ONEC_CML
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
