"""In headless Chromium, as an operator: resolve a conflict (take ERP) and replay a dead letter, then check
the database."""

import pytest
from django.contrib.contenttypes.models import ContentType

from counterparties.models import Counterparty
from integration.models import Conflict, OutboxEvent

from .conftest import log_in
from .data import backends

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_resolves_a_conflict_taking_the_erp_value(page, operator):
    client = Counterparty.objects.create(kind="legal", name="Ромашка", inn="7707083893", kpp="773601001")
    conflict = Conflict.objects.create(
        content_type=ContentType.objects.get_for_model(Counterparty), object_id=client.pk, object_repr=str(client),
        field="name", erp_value="ООО «Ромашка»", crm_value="Ромашка",
    )
    log_in(page, operator.username)

    page.goto("/admin/integration/conflict/?status__exact=open")
    page.check(f"input.action-select[value='{conflict.pk}']")
    page.select_option("select[name=action]", "take_erp")
    page.click("button[name=index]")
    page.fill("textarea[name=reason]", "ERP is the master of legal names")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_url("**/admin/integration/conflict/**")
    assert page.locator(".messagelist .success").count() == 1

    conflict.refresh_from_db()
    client.refresh_from_db()
    assert client.name == "ООО «Ромашка»"
    assert conflict.status == Conflict.Status.RESOLVED and conflict.resolution == Conflict.Resolution.TAKE_ERP
    assert conflict.resolved_by_id == operator.pk and conflict.reason == "ERP is the master of legal names"


def test_operator_replays_a_dead_letter(page, operator):
    _crm, erp = backends()
    dead = OutboxEvent.objects.create(
        backend=erp, topic="erp.order.upsert", aggregate_type="orders.order", aggregate_id="1", payload={},
        idempotency_key="order-1", status=OutboxEvent.Status.DEAD, attempts=3, max_attempts=3,
        last_error="400 Bad Request: VAT rate",
    )
    log_in(page, operator.username)

    page.locator("#alerts").get_by_role("link", name="Dead letters").click()
    page.wait_for_url("**/admin/integration/outboxevent/**")
    page.check(f"input.action-select[value='{dead.pk}']")
    page.select_option("select[name=action]", "replay_selected")
    page.click("button[name=index]")
    assert "1 event queued again" in page.locator(".messagelist").inner_text()

    dead.refresh_from_db()
    assert dead.status == OutboxEvent.Status.PENDING
    assert dead.max_attempts > dead.attempts == 3
    assert dead.idempotency_key == "order-1"  # a replay can't create a second remote object
