"""The order timeline gathers every source, newest first, with a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integration.staff.timeline import build_timeline

from .conftest import PASSWORD
from .data import backends, order_with_everything

pytestmark = pytest.mark.django_db


def test_timeline_has_every_source_newest_first():
    order = order_with_everything(*backends())
    with CaptureQueriesContext(connection) as queries:
        entries = build_timeline(order)
    assert len(queries.captured_queries) <= 14
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    kinds = {e.kind for e in entries}
    assert kinds >= {"outbox", "exchange", "conflict", "document", "payment", "shipment", "reservation", "history"}
    by_kind = {e.kind: e for e in entries}
    traffic = [e.kind for e in entries if e.kind != "history"]  # history rows are stamped now
    assert traffic[:3] == ["shipment", "payment", "document"]
    assert "NAIL-100" in by_kind["shipment"].detail
    dead = next(e for e in entries if e.kind == "outbox" and e.level == "error")
    assert dead.source == "crm" and "crm.lead.sync" in dead.title and "field 123 unknown" in dead.detail
    assert by_kind["conflict"].level == "warning" and "quantity" in by_kind["conflict"].title
    assert by_kind["document"].level == "error" and "1220.01" in by_kind["document"].detail
    history = [e for e in entries if e.kind == "history"]
    assert any("ERP confirmed" in e.detail and "draft → reserved" in e.detail for e in history)


def test_order_change_page_shows_the_timeline(client, auditor):
    order = order_with_everything(*backends())
    assert client.login(username=auditor.username, password=PASSWORD)
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert 'id="order-timeline"' in page
    assert page.count('class="staff-tl-') >= 8
    assert "crm.lead.sync" in page and "ОТГ-3" in page
