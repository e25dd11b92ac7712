"""Benchmark: MoySklad changes the stock of 200 products; how long until the widget search shows the new figure.

Real processes: the MoySklad sandbox (scale seed, BENCH_STALENESS_PRODUCTS products), gunicorn serving the widget
API and our webhook URL, `manage.py queue_worker` processing the inbox. The changes arrive in batches of 5 every
0.25 s; two pollers read the widget pages holding the changed products (100 a page) back to back and note when
each new figure shows. The widget's own stale-stock refresh is kept out (STOCK_MAX_AGE one hour): only the ERP's
news is measured.

1. Webhooks: the sandbox announces stock changes (`webhookstock`) every ANNOUNCE_SECONDS — MoySklad itself does
   so every 1–5 min, which no code of ours can shorten; `after_announce_p95_s` is our part alone (announcement
   received → visible in the search). p50_s/p95_s/max_s are change → visible.
2. Polling only (no webhook subscribed): the scheduled stock refresh (integration.tasks.refresh_stock, every
   POLL_EVERY_SECONDS = 240 s in production) run every POLL_SECONDS here. Each latency is split into the wait
   for the next refresh run to start (which grows with the interval: uniform over it) and the rest (the run and
   the search seeing it, which does not); `poll_p95_s` is the p95 of wait × POLL_EVERY_SECONDS / POLL_SECONDS
   + rest, i.e. what the 4-minute schedule gives.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime

import requests

from tests.bench import _erp
from tests.bench.widget_search import ROOT, amocrm_backend, gunicorn_server, percentile

PRODUCTS = int(os.environ.get("BENCH_STALENESS_PRODUCTS", "2000"))
CHANGES = 200
BATCH = 5
BATCH_EVERY = 0.25
ANNOUNCE_SECONDS = float(os.environ.get("BENCH_STALENESS_ANNOUNCE_SECONDS", "2"))
POLL_SECONDS = 5.0
POLL_EVERY_SECONDS = 240.0  # integration/schedules.py: "amoerp: stock refresh", every 4 minutes
PREFIX = "SC-0000"
PAGE_SIZE = 100
log = logging.getLogger("bench.stock_staleness")


def _rounded(values: list[float]) -> dict:
    return {"p50_s": round(statistics.median(values), 2), "p95_s": round(percentile(values, 95), 2),
            "max_s": round(max(values), 2)}


class Watch:
    """Pollers reading the widget search until every changed figure shows; `seen[key]` = monotonic time."""

    def __init__(self, url: str, backend, pages: int):
        self.url, self.backend, self.pages = url, backend, pages
        self.expected: dict[tuple[int, int], str] = {}  # (product id, warehouse id) → on hand as the widget says it
        self.seen: dict[tuple[int, int], float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.requests = 0

    def expect(self, key: tuple[int, int], on_hand: str) -> None:
        with self.lock:
            self.expected[key] = on_hand

    def _poll(self, offset: int) -> None:
        from integration.amocrm.widget_token import mint_widget_token

        session = requests.Session()
        page = offset
        while not self.stop.is_set():
            token = mint_widget_token(self.backend, 2000 + page)
            response = session.get(f"{self.url}/api/widget/v1/products", headers={"X-Auth-Token": token},
                                   params={"q": PREFIX, "page": page + 1, "page_size": PAGE_SIZE}, timeout=30)
            now = time.monotonic()
            self.requests += 1
            response.raise_for_status()
            with self.lock:
                for product in response.json()["results"]:
                    for row in product["stock"]["warehouses"]:
                        key = (product["id"], row["warehouse_id"])
                        if key in self.expected and key not in self.seen and row["on_hand"] == self.expected[key]:
                            self.seen[key] = now
            page = (page + 2) % self.pages if self.pages > 1 else 0

    def __enter__(self):
        self.threads = [threading.Thread(target=self._poll, args=(i,), daemon=True) for i in range(2)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) == len(self.expected):
                    return True
            time.sleep(0.05)
        return False


def _targets(count: int) -> list:
    """The first `count` plain goods by article under PREFIX, with a warehouse each, and the pages they span."""
    from catalog.models import Product, StockLevel

    matching = list(Product.objects.filter(active=True, article__icontains=PREFIX).order_by("article")
                    .values_list("pk", "kind", "tracking", "erp_id"))
    chosen, rows = [], {}
    for pk, wid, store in StockLevel.objects.filter(batch__isnull=True).values_list(
            "product_id", "warehouse_id", "warehouse__erp_id"):
        rows.setdefault(pk, (wid, store))
    for position, (pk, kind, tracking, erp_id) in enumerate(matching):
        if kind == "goods" and tracking == "none" and pk in rows:
            chosen.append((pk, erp_id, *rows[pk], position))
        if len(chosen) == count:
            break
    return chosen


def _change(sandbox, watch: Watch, targets: list, salt: int) -> dict[tuple[int, int], float]:
    """Change every target's stock (batches of BATCH every BATCH_EVERY s); returns when each change was made."""
    from catalog.models import StockLevel

    changed_at = {}
    for start in range(0, len(targets), BATCH):
        batch = targets[start:start + BATCH]
        changes = []
        for pk, erp_id, wid, store, _pos in batch:
            current = StockLevel.objects.filter(product_id=pk, warehouse_id=wid).values_list("on_hand", flat=True)[0]
            value = int(current) + salt + start % 97
            watch.expect((pk, wid), f"{value:.3f}")
            changes.append({"product": erp_id, "store": store, "stock": value})
        at = time.monotonic()
        sandbox.control("moysklad/stock", {"changes": changes})
        for pk, _e, wid, _s, _p in batch:
            changed_at[(pk, wid)] = at
        time.sleep(BATCH_EVERY)
    return changed_at


def _queue_worker(env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "manage.py", "queue_worker", "--queues", "inbox", "--worker", "bench"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and "running" in proc.stdout.readline()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _poll_phase(url, amo, sandbox, targets, pages) -> tuple[list[float], list[float]]:
    """Polling only: the scheduled refresh every POLL_SECONDS; latencies and their scaled values."""
    from integration.tasks import refresh_stock

    starts: list[float] = []
    stop = threading.Event()

    def schedule():
        while not stop.is_set():
            starts.append(time.monotonic())
            refresh_stock()
            stop.wait(max(0.0, starts[-1] + POLL_SECONDS - time.monotonic()))

    with Watch(url, amo, pages) as watch:
        scheduler = threading.Thread(target=schedule, daemon=True)
        scheduler.start()
        changed_at = _change(sandbox, watch, targets, salt=1000)
        complete = watch.wait_all(POLL_SECONDS * 4 + 60)
        stop.set()
        scheduler.join(timeout=120)
    if not complete:
        raise RuntimeError(f"polling: {len(watch.seen)}/{len(watch.expected)} changes seen")
    latencies, scaled = [], []
    for key, at in changed_at.items():
        latency = watch.seen[key] - at
        wait = min((s for s in starts if s >= at), default=at) - at
        latencies.append(latency)
        scaled.append(wait * POLL_EVERY_SECONDS / POLL_SECONDS + (latency - wait))
    return latencies, scaled


def _webhook_phase(url, amo, backend, sandbox, targets, pages, env) -> tuple[list[float], list[float], int]:
    from integration.erp.moysklad.setup import subscribe_webhooks
    from integration.models import InboxMessage

    subscribe_webhooks(backend, public_url=url)
    worker = _queue_worker(env)
    try:
        with Watch(url, amo, pages) as watch:
            started_wall, started = time.time(), time.monotonic()
            changed_at = _change(sandbox, watch, targets, salt=2000)
            complete = watch.wait_all(120)
        if not complete:
            raise RuntimeError(f"webhooks: {len(watch.seen)}/{len(watch.expected)} changes seen")
    finally:
        _stop(worker)
    arrivals = sorted(  # stock announcements received, on the monotonic clock
        started + (at.timestamp() - started_wall)
        for at in InboxMessage.objects.filter(source="moysklad", received_at__gte=datetime.fromtimestamp(
            started_wall).astimezone()).values_list("received_at", flat=True)
    )
    latencies, ours = [], []
    for key, at in changed_at.items():
        latencies.append(watch.seen[key] - at)
        announced = max((a for a in arrivals if a <= watch.seen[key]), default=at)
        ours.append(watch.seen[key] - max(announced, at))
    return latencies, ours, len(arrivals)


def run() -> list[dict]:
    from integration.sandbox.process import start_sandbox

    sandbox = start_sandbox("moysklad", seed="scale", timeout=300, options={
        "products": PRODUCTS, "warehouses": 3, "price_lists": 1, "stock_webhook_seconds": ANNOUNCE_SECONDS})
    try:
        backend = _erp.bench_backend(sandbox)
        _erp.run_child("full", backend.pk)
        amo = amocrm_backend()
        targets = _targets(CHANGES)
        pages = max(pos for *_x, pos in targets) // PAGE_SIZE + 1
        log.info("%d products to change over %d widget pages", len(targets), pages)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DEBUG": "0",
               "SECRET_KEY": "bench-secret-key-not-for-production", "AMOERP_STOCK_MAX_AGE_SECONDS": "3600",
               "LOG_LEVEL": "ERROR", "PYTHONUNBUFFERED": "1"}
        with gunicorn_server(extra_env={"AMOERP_STOCK_MAX_AGE_SECONDS": "3600"}) as url:
            polled, scaled = _poll_phase(url, amo, sandbox, targets, pages)
            hooked, ours, announcements = _webhook_phase(url, amo, backend, sandbox, targets, pages, env)
    finally:
        sandbox.stop()
    return [{
        "bench": "stock_staleness", "changes": len(targets), **_rounded(hooked),
        "poll_p95_s": round(percentile(scaled, 95), 1),
        "announce_every_s": ANNOUNCE_SECONDS, "announcements": announcements,
        "after_announce_p95_s": round(percentile(ours, 95), 2),
        "poll_interval_s": POLL_SECONDS, "poll_measured_p95_s": round(percentile(polled, 95), 2),
        "products": PRODUCTS,
    }]
