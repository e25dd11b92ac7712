"""Benchmark: a whole 1C CommerceML catalog exchange over HTTP to gunicorn — import.xml and offers.xml of
100,000 products (2 price types, 5 warehouses) uploaded in 1 MB parts by the 1C simulator, then imported until
`success`. `peak_rss_mb` is the highest peak RSS of the gunicorn processes (aims: ≤ 90 s, ≤ 300 MB).
CML_BENCH_PRODUCTS sets the size (a smaller run for a quick look at the scaling)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from integration.erp.commerceml.config import configure_exchange
from integration.models import Backend, SyncRun
from integration.sandbox.commerceml import files
from integration.sandbox.commerceml.client import OneCSimulator
from tests.bench.widget_search import gunicorn_server

PRODUCTS = int(os.environ.get("CML_BENCH_PRODUCTS", 100_000))
WAREHOUSES = 5
LOGIN, PASSWORD = "bench", "bench-password"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
        peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def run() -> list[dict]:
    backend = Backend.objects.create(name="onec-cml-bench", kind=Backend.Kind.ONEC_CML, base_url="https://1c.invalid/")
    secret = configure_exchange(backend, login=LOGIN, password=PASSWORD, exchange_file_limit=1024 * 1024,
                                exchange_budget_seconds=20)
    stores = [(f"57a0e000-0000-4000-8000-{n:012d}", f"Склад {n}") for n in range(1, WAREHOUSES + 1)]
    with tempfile.TemporaryDirectory(prefix="cml-bench-") as folder:
        import_xml, offers_xml = Path(folder) / "import.xml", Path(folder) / "offers.xml"
        files.write_import(import_xml, files.generated(PRODUCTS, WAREHOUSES))
        files.write_offers(offers_xml, files.generated(PRODUCTS, WAREHOUSES), warehouses=stores)
        payload = {"import.xml": import_xml.read_bytes(), "offers.xml": offers_xml.read_bytes()}
    upload_mb = round(sum(len(v) for v in payload.values()) / 2**20, 1)
    with gunicorn_server(workers=1, threads=4) as url:
        simulator = OneCSimulator(f"{url}/exchange/1c/{secret}/", LOGIN, PASSWORD, zip_files=False, poll_pause=0.2)
        started = time.monotonic()
        transcript = simulator.exchange_catalog(payload)
        seconds = round(time.monotonic() - started, 1)
        peak = _peak_rss_mb(_descendants(os.getpid()))
    runs = {r.kind: r for r in SyncRun.objects.filter(backend=backend)}
    return [{
        "bench": "cml_import", "products": PRODUCTS, "offers": PRODUCTS, "warehouses": WAREHOUSES,
        "seconds": seconds, "peak_rss_mb": peak, "upload_mb": upload_mb,
        "file_calls": len(transcript.modes("file")), "import_calls": len(transcript.modes("import")),
        "products_created": runs["catalog"].created, "stock_rows": runs["stock"].created,
        "status": [runs["catalog"].status, runs["stock"].status],
    }]
