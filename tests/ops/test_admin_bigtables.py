"""The admin lists of big tables (journal, outbox, orders, products) answer as before — the same rows, the same
date drill-down, the same search hits — without the queries that cost on millions of rows (issue 18)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Barcode, Pack
from integration.models import Backend, JournalEntry, OutboxEvent
from integration.staff import bigtables
from orders.models import Order
from tests.documents.factories import make_counterparty, make_product, make_unit

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
JOURNAL = "/admin/integration/journalentry/"


@pytest.fixture
def erp(db):
    return Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")


@pytest.fixture
def probing(monkeypatch):
    """As on a big table: the planner's estimates are over the limit, whatever the test's row count."""
    monkeypatch.setattr(bigtables, "EXACT_COUNT_LIMIT", 0)


def _at(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


@pytest.fixture
def spread_journal(erp):
    moments = [_at(2025, 12, 31, 23, 30), _at(2026, 1, 1, 0, 10), _at(2026, 1, 1, 12), _at(2026, 1, 17, 8),
               _at(2026, 3, 2, 9), _at(2026, 3, 2, 23, 59), _at(2026, 3, 30)]
    JournalEntry.objects.bulk_create(
        JournalEntry(backend=erp, direction="out", method="GET" if n % 2 else "POST", url=f"/entity/product/{n}",
                     status_code=500 if n == 3 else 200, created_at=moment)
        for n, moment in enumerate(moments)
    )
    return moments


@pytest.mark.parametrize("filters", [{}, {"status_code__gte": 500}, {"method": "GET"}])
def test_date_drilldown_probes_find_the_periods_distinct_finds(spread_journal, probing, filters):
    plain = JournalEntry.objects.filter(**filters)
    probed = plain._chain()
    probed.__class__ = bigtables._probing(type(plain))
    for kind in ("year", "month", "day"):
        assert list(probed.datetimes("created_at", kind)) == list(plain.datetimes("created_at", kind)), kind
    month = plain.filter(created_at__gte=_at(2026, 3, 1), created_at__lt=_at(2026, 4, 1))
    probed_month = month._chain()
    probed_month.__class__ = bigtables._probing(type(month))
    assert list(probed_month.datetimes("created_at", "day")) == list(month.datetimes("created_at", "day"))


def test_the_journal_page_drills_down_without_distinct_over_the_table(admin_client, spread_journal, probing):
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(JOURNAL).content.decode()
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"]], "no DISTINCT over the journal"
    assert "created_at__year=2025" in page and "created_at__year=2026" in page
    month = admin_client.get(f"{JOURNAL}?created_at__year=2026&created_at__month=3").content.decode()
    assert "created_at__day=2" in month and "created_at__day=30" in month and "created_at__day=3&" not in month
    assert month.count('class="field-url_short"') == 3


def test_a_big_count_is_the_planners_estimate_and_says_so(admin_client, spread_journal, probing):
    page = admin_client.get(JOURNAL).content.decode()
    assert 'class="estimated-count"' in page and "≈" in page
    assert page.count('class="field-url_short"') == len(spread_journal)


def test_a_small_count_is_exact(admin_client, spread_journal):
    page = admin_client.get(f"{JOURNAL}?outcome=5xx").content.decode()
    assert 'class="estimated-count"' not in page and "1 journal entry" in page


def test_the_method_filter_lists_http_methods_and_filters(admin_client, spread_journal):
    page = admin_client.get(JOURNAL).content.decode()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        assert f"?method={method}" in page
    filtered = admin_client.get(f"{JOURNAL}?method=POST").content.decode()
    assert filtered.count('class="field-url_short"') == 4


def test_the_outbox_topic_filter_lists_recent_and_unfinished_topics(admin_client, erp):
    old = timezone.now() - timedelta(days=30)
    for n, (topic, status, created_at) in enumerate([
        ("erp.order.upsert", "delivered", timezone.now()), ("crm.lead.sync", "dead", old),
        ("catalog.push", "delivered", old),
    ]):
        OutboxEvent.objects.create(backend=erp, topic=topic, aggregate_type="order", aggregate_id=str(n),
                                   idempotency_key=f"k{n}", status=status, created_at=created_at)
    page = admin_client.get("/admin/integration/outboxevent/").content.decode()
    assert "?topic=erp.order.upsert" in page and "?topic=crm.lead.sync" in page
    assert "?topic=catalog.push" not in page, "delivered a month ago: not offered, still reachable by its URL"
    old_topic = admin_client.get("/admin/integration/outboxevent/?topic=catalog.push").content.decode()
    assert old_topic.count('name="_selected_action"') == 1
    by_id = admin_client.get("/admin/integration/outboxevent/?q=1").content.decode()
    assert by_id.count('name="_selected_action"') == 1


def _found(admin_client, url: str, q: str) -> int:
    response = admin_client.get(url, {"q": q})
    assert response.status_code == 200
    return response.content.decode().count('name="_selected_action"')


def test_product_search_finds_by_article_name_erp_id_and_barcodes(admin_client):
    unit = make_unit()
    drill = make_product("DR-100", "Дрель ударная Зубр", unit=unit)
    saw = make_product("SAW-7", "Пила дисковая", unit=unit)
    saw.erp_id = "0b1c2d3e-ms"
    saw.save(update_fields=["erp_id"])
    Barcode.objects.create(product=drill, value="4600000000017")
    Pack.objects.create(product=saw, unit=make_unit("778", "упак"), factor=10, barcode="4600000000024")
    url = "/admin/catalog/product/"
    assert _found(admin_client, url, "DR-") == 1
    assert _found(admin_client, url, "-100") == 0, "the article matches from its start"
    assert _found(admin_client, url, "ударная") == 1
    assert _found(admin_client, url, "0b1c2d3e-ms") == 1
    assert _found(admin_client, url, "4600000000017") == 1
    assert _found(admin_client, url, "4600000000024") == 1
    assert _found(admin_client, url, "Дрель Зубр") == 1 and _found(admin_client, url, "Дрель дисковая") == 0
    assert _found(admin_client, url, '"Пила дисковая"') == 1


def test_order_search_finds_by_lead_erp_number_counterparty_and_uuid(admin_client):
    buyer = make_counterparty(name="ООО «Ромашка»", inn="7707083893")
    order = Order.objects.create(counterparty=buyer, lead_id=4242, erp_number="ЗК-00042", erp_id="ms-order-1")
    Order.objects.create(lead_id=77, erp_number="ЗК-00077")
    url = "/admin/orders/order/"
    assert _found(admin_client, url, "4242") == 1
    assert _found(admin_client, url, "00042") == 1
    assert _found(admin_client, url, "ромашка") == 1 and _found(admin_client, url, "7707083893") == 1
    assert _found(admin_client, url, str(order.uuid)) == 1 and _found(admin_client, url, "ms-order-1") == 1
    assert _found(admin_client, url, "ЗК") == 2 and _found(admin_client, url, "ЗК Ромашка") == 1
    assert _found(admin_client, url, str(uuid.uuid4())) == 0
    assert _found(admin_client, url, "9" * 30) == 0, "a number too big for a lead id is no error"
