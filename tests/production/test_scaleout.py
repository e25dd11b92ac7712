"""The platform as several processes on PostgreSQL + Redis (lean; the heavy run is `make bench
BENCH=outbox_scaleout`): 2 gunicorn × 2 workers, a qcluster and 3 queue workers. An idle worker picks a new
event up within 1 s (p95); a flood of outbox events from many orders, with one worker and the qcluster SIGKILLed
and restarted and the receiving ERP down for 2 s, ends with every event's effect exactly once, nothing dead or
lost. Then 250 MoySklad webhooks (retries of the same change, changes out of order) reach both web servers while
the ERP sandbox answers 503 for 20 s: each change is stored once and every product ends as the ERP has it.
/health/ is 200 on both web servers and /metrics agrees with the database and the receiver, no 429 anywhere.
Then the reserve race: 50 carts for the last 10 units through both web servers, none oversold."""

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from catalog.models import Product
from integration.amocrm.setup import prepare_account
from integration.erp.moysklad.catalog_sync import sync_catalog
from integration.models import Backend, InboxMessage, JournalEntry, OutboxEvent
from tests.bench.reserve_race import _amocrm_sandbox
from tests.bench.widget_search import amocrm_backend
from tests.production.conftest import child_env
from tests.production.scaleout import run_scaleout
from tests.production.test_health_metrics import TOKEN, free_port, scrape, wait_for
from tests.production.webhook_storm import amocrm_storm, moysklad_backend, moysklad_storm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.long, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web_and_cluster(redis_url, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = child_env(REDIS_URL=redis_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), AMOERP_METRICS_TOKEN=TOKEN,
                    LOG_LEVEL="WARNING", AMOERP_STOCK_MAX_AGE_SECONDS="3600")
    ports = [free_port(), free_port()]
    processes = [subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}",
                                   "-w", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True) for port in ports]

    def start_qcluster() -> None:
        processes.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def kill_and_restart_qcluster() -> None:
        """SIGKILL the whole qcluster (its sentinel, monitor, pusher and workers), as the OOM killer would."""
        killed = processes.pop()
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        start_qcluster()

    start_qcluster()
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            wait_for(lambda url=url: requests.get(url + "/health/", timeout=5).status_code == 200, 90)
        yield urls, env, kill_and_restart_qcluster
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_outbox_scaleout_lean(web_and_cluster, ms_sandbox_module):
    urls, env, kill_and_restart_qcluster = web_and_cluster
    result = run_scaleout(env, events=400, processes=3, rate=300, outage_seconds=2.0, idle_samples=6, timeout=180,
                          midway=kill_and_restart_qcluster)
    assert result.idle_p95_pickup_ms <= 1000, result
    assert result.lost == 0 and result.dead == 0 and result.delivered == 400, result
    assert result.duplicates <= 100, result  # at most the batch the killed worker held (its lease expired)

    ms = ms_sandbox_module
    sync_catalog(moysklad_backend(ms), full=True)
    storm = moysklad_storm(urls, ms, env, products=100, retries=50, down_seconds=20.0)
    assert storm.posted == 250 and storm.codes == {200: 250}, storm.codes
    hooks = InboxMessage.objects.filter(source="moysklad")
    assert hooks.count() == storm.distinct == 200  # a retry of a change is stored once, whichever server took it
    assert sum(hooks.values_list("duplicates", flat=True)) == 50
    assert set(hooks.values_list("status", flat=True)) == {InboxMessage.Status.PROCESSED}
    ours = dict(Product.objects.filter(erp_id__in=storm.products).values_list("erp_id", "name"))
    assert ours == storm.products  # every product as the ERP has it, whatever order its webhooks came in
    assert not JournalEntry.objects.filter(status_code=429).exists()

    for url in urls:
        health = requests.get(url + "/health/", timeout=10)
        assert health.status_code == 200, health.text
    metrics = scrape(urls[0])
    assert metrics["amoerp_outbox_pending"] == OutboxEvent.objects.filter(status="pending").count() == 0
    assert metrics["amoerp_outbox_dead_total"] == 0
    assert metrics["amoerp_inbox_pending"] == 0
    assert not any(name.startswith("amoerp_http_429_total") and value for name, value in metrics.items())
    counted = metrics['amoerp_external_requests_total{backend="scale",status="200"}']
    # every 200 the ERP gave is counted, except those whose worker was killed before counting (then redelivered)
    assert result.attempts_200 - result.duplicates <= counted <= result.attempts_200, (counted, result)
    assert scrape(urls[1])['amoerp_external_requests_total{backend="scale",status="200"}'] == counted
    refused = JournalEntry.objects.filter(backend__name="storm-ms", status_code=503).count()
    assert refused and metrics['amoerp_external_requests_total{backend="storm-ms",status="503"}'] == refused


    Backend.objects.filter(name="storm-ms").update(active=False)  # the race's shop is not the ERP's demo company
    amo = amocrm_backend()
    crm = _amocrm_sandbox(amo)
    try:
        prepare_account(amo, public_url=urls[0])  # amoCRM's own webhooks go to the first web server
        amo.refresh_from_db()
        reserved, codes, deals = reserve_race(urls, crm, amo, carts=50, units=10)
        assert reserved == 10, codes  # not one unit oversold, whichever web process took the cart
        assert codes.count(200) == 10 and codes.count(409) == 40, codes

        storm, keys = amocrm_storm(urls, amo, env, leads=deals, per_lead=4, retries=50)
        assert storm.posted == 250 and storm.codes == {200: 250}, storm.codes
        ours = InboxMessage.objects.filter(source="amocrm", message_id__in=keys)
        assert ours.count() == len(keys) == 200  # a retry is stored once, whichever server took it
        assert sum(ours.values_list("duplicates", flat=True)) == 50
        assert set(InboxMessage.objects.filter(source="amocrm").values_list("status", flat=True)) == {
            InboxMessage.Status.PROCESSED}
        assert reserved_units(deals) == 10  # the webhooks' re-reads changed no cart: still not one unit oversold
        assert leads_as_the_platform_has_them(crm, amo, deals)
    finally:
        crm.stop()
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).exists()
    assert not JournalEntry.objects.filter(status_code=429).exists()
    for url in urls:
        assert requests.get(url + "/health/", timeout=10).status_code == 200


def reserve_race(urls: list[str], crm, backend, *, carts: int, units: int) -> tuple[int, list[int], list[int]]:
    """`carts` carts (one lead each) PUT at once, alternating between the web servers, for the last `units`."""
    from decimal import Decimal

    from django.utils import timezone

    from catalog.models import PriceList, Product, StockLevel, Unit, Warehouse
    from integration.amocrm.widget_token import mint_widget_token
    from tests.bench.reserve_race import _create_deals

    unit = Unit.objects.get_or_create(okei_code="796", defaults={"name": "штука", "short_name": "шт"})[0]
    warehouse = Warehouse.objects.create(name="Race")
    price_list = PriceList.objects.get_or_create(code="race", defaults={"name": "Race", "is_default": True})[0]
    product = Product.objects.create(article="RACE-LAST", name="Последние", unit=unit)
    for listed in {price_list, *PriceList.objects.filter(is_default=True)}:  # whichever list the widget quotes
        product.prices.create(price_list=listed, amount=Decimal("100"))
    StockLevel.objects.create(product=product, warehouse=warehouse, on_hand=Decimal(units), snapshot_at=timezone.now())
    deals = _create_deals(crm, carts)
    tokens = [mint_widget_token(backend, 500 + n) for n in range(carts)]
    barrier = threading.Barrier(carts)

    def put(n: int) -> int:
        barrier.wait(timeout=60)
        return requests.put(f"{urls[n % len(urls)]}/api/widget/v1/leads/{deals[n]}/order",
                            json={"lines": [{"product": product.pk, "quantity": "1", "warehouse": warehouse.pk}]},
                            headers={"X-Auth-Token": tokens[n]}, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=carts) as pool:
        codes = list(pool.map(put, range(carts)))
    return reserved_units(deals), codes, deals


def reserved_units(leads: list[int]) -> int:
    from decimal import Decimal

    from orders.models import Reservation

    held = Reservation.objects.filter(order__lead_id__in=leads, status__in=["pending", "confirmed"])
    return int(sum((r.quantity for r in held), Decimal("0")))


def leads_as_the_platform_has_them(crm, backend, leads: list[int]) -> bool:
    """Each order's lead in amoCRM shows the order's status (the lead sync delivered, exactly once in effect: one
    timeline note per order, however many times the sync ran)."""
    from django.utils import translation

    from integration.amocrm import mappers as m
    from integration.amocrm.client import AmoCrmClient
    from integration.amocrm.deals import lead_field_ids, note_language
    from orders.models import Order

    ids = lead_field_ids(AmoCrmClient(backend), refresh=True)
    orders = list(Order.objects.filter(lead_id__in=leads))
    assert len(orders) >= 10, len(orders)  # at least the carts that got their unit
    for order in orders:
        lead = crm.control("amocrm/as_manager", {"method": "GET", "path": f"/api/v4/leads/{order.lead_id}"})["body"]
        shown = {f["field_id"]: f["values"][0]["value"] for f in lead.get("custom_fields_values") or []}
        with translation.override(note_language(backend)):
            expected = order.erp_state or order.get_status_display()
        assert shown.get(ids[m.ERP_STATUS]) == expected, (order.pk, shown, expected)
        notes = crm.control("amocrm/as_manager", {"method": "GET", "path": f"/api/v4/leads/{order.lead_id}/notes"})
        texts = [n["params"]["text"] for n in (notes.get("body") or {}).get("_embedded", {}).get("notes", [])
                 if (n.get("params") or {}).get("text")]
        assert texts and len(texts) == len(set(texts)), (order.pk, texts)
    return True
