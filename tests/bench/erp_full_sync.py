"""Benchmark: a full MoySklad → platform sync of 100,000 products, 3 price lists, 5 warehouses (catalog with
packs, barcodes and prices, then stock by store), over HTTP from the sandbox, in its own process.
`floor_seconds`: in the same run, only fetching the same pages plus a COPY of as many rows (_erp_child `fetch`);
aims: ratio ≤ 2.0, ≤ 500 MB."""

from __future__ import annotations

from tests.bench import _erp


def run() -> list[dict]:
    sandbox = _erp.start_scale_sandbox()
    try:
        backend = _erp.bench_backend(sandbox)
        _erp.clear_catalog(backend)
        floor = _erp.run_child("fetch", backend.pk)
        report = _erp.run_child("full", backend.pk)
    finally:
        sandbox.stop()
    catalog, stock = report["runs"]
    rows = catalog["created"] + catalog["updated"] + stock["created"] + stock["updated"]
    return [
        {
            "bench": "erp_full_sync",
            "products": _erp.PRODUCTS,
            "price_lists": _erp.PRICE_LISTS,
            "warehouses": _erp.WAREHOUSES,
            "seconds": report["seconds"],
            "rows_per_s": round(rows / report["seconds"]) if report["seconds"] else None,
            "peak_rss_mb": report["peak_rss_mb"],
            "floor_seconds": floor["seconds"],
            "ratio": round(report["seconds"] / floor["seconds"], 2) if floor["seconds"] else None,
            "products_synced": catalog["created"] + catalog["updated"],
            "stock_rows": stock["created"] + stock["updated"],
            "failed": catalog["failed"] + stock["failed"],
            "status": [catalog["status"], stock["status"]],
        }
    ]
