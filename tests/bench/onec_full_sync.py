"""Benchmark: a full 1C → platform sync of 100,000 products, 3 price types, 5 warehouses (catalog with packs,
barcodes and SliceLast prices, then stock from the Balance tables) over OData from the 1C sandbox, in its own
process; `floor_seconds` is the time to only fetch the same pages in the same run (aims: ≤ 120 s, ≤ 500 MB)."""

from __future__ import annotations

from tests.bench import _erp, _onec


def run() -> list[dict]:
    sandbox = _onec.start_scale_sandbox()
    try:
        backend = _onec.bench_backend(sandbox)
        _erp.clear_catalog(backend)
        floor = _onec.run_child("fetch", backend.pk)
        report = _onec.run_child("full", backend.pk)
    finally:
        sandbox.stop()
    catalog, stock = report["runs"]
    return [{
        "bench": "onec_full_sync", "products": _erp.PRODUCTS, "price_types": _erp.PRICE_LISTS,
        "warehouses": _erp.WAREHOUSES, "seconds": report["seconds"], "peak_rss_mb": report["peak_rss_mb"],
        "floor_seconds": floor["seconds"],
        "ratio": round(report["seconds"] / floor["seconds"], 2) if floor["seconds"] else None,
        "products_synced": catalog["created"] + catalog["updated"], "stock_rows": stock["created"] + stock["updated"],
        "failed": catalog["failed"] + stock["failed"], "status": [catalog["status"], stock["status"]],
    }]
