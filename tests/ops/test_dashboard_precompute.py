"""The dashboard's KPI panel and charts are computed ahead by a schedule: a visitor's page then runs none of
their queries, and the schedule recomputes only what is about to expire."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integration.models import Backend, JournalEntry
from integration.staff import precompute

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def journal(db):
    erp = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")
    JournalEntry.objects.create(backend=erp, direction="out", method="GET", url="/entity/product", status_code=200)


def _dashboard(admin_client) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/").content.decode()
    return page, [q["sql"] for q in queries]


def _trend_or_kpi(sql: str) -> bool:
    return "DATE_TRUNC" in sql or "documents_document" in sql


def test_a_visit_after_the_precompute_runs_no_kpi_or_chart_query(admin_client, journal):
    cold_page, cold = _dashboard(admin_client)
    assert any(_trend_or_kpi(sql) for sql in cold), "a cold dashboard computes them"
    cache.clear()

    assert "kpis:ru" in precompute.precompute_dashboard()
    page, warm = _dashboard(admin_client)
    assert not [sql for sql in warm if _trend_or_kpi(sql)]
    assert len(warm) < len(cold) / 2, (len(warm), len(cold))
    assert page.count("<svg") == cold_page.count("<svg") > 0, "the same charts"


def test_the_precompute_recomputes_only_what_is_due(journal, monkeypatch):
    first = precompute.precompute_dashboard()
    assert first.count("kpis:") == 2 and first.count("trends:") == 6, first  # ru and en, three periods
    assert precompute.precompute_dashboard() == "refreshed nothing"
    later = precompute.time.time() + 90  # the 24-hour charts are refreshed every minute, the rest less often
    monkeypatch.setattr(precompute.time, "time", lambda: later)
    assert precompute.precompute_dashboard() == "refreshed trends:24h:ru, trends:24h:en"


def test_setup_schedules_runs_it_every_minute(db):
    from django_q.models import Schedule

    call_command("setup_schedules")
    schedule = Schedule.objects.get(name="amoerp: dashboard precompute")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "integration.staff.precompute.precompute_dashboard", Schedule.MINUTES, 1)
