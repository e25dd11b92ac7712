"""Benchmark: 2,000 stock rows change in MoySklad; the incremental refresh (`/current` with changedSince)
brings them in."""

from __future__ import annotations

import time

from tests.bench import _erp

CHANGED = 2000


def run() -> list[dict]:
    from catalog.models import Product, StockLevel
    from integration.erp.moysklad.stock_sync import sync_stock

    sandbox = _erp.start_scale_sandbox()
    try:
        backend = _erp.bench_backend(sandbox)
        if _erp.synced_products(backend) != _erp.PRODUCTS or not StockLevel.objects.exists():
            _erp.clear_catalog(backend)
            _erp.run_child("full", backend.pk)
        else:
            _erp.run_child("stock", backend.pk)  # a fresh snapshot and cursor for this sandbox
        stores = list(sandbox.control("moysklad/entities/store", method="GET"))
        products = list(
            Product.objects.filter(tracking="none", kind="goods")
            .order_by("pk")
            .values_list("erp_id", flat=True)[: CHANGED // len(stores)]
        )
        changes = [
            {"product": erp_id, "store": store["id"], "stock": 1000 + n, "inTransit": n % 7}
            for n, erp_id in enumerate(products)
            for store in stores
        ]
        sandbox.control("moysklad/stock", {"changes": changes})
        started = time.monotonic()
        stock_run = sync_stock(backend)
        seconds = time.monotonic() - started
    finally:
        sandbox.stop()
    return [
        {
            "bench": "erp_stock_refresh",
            "changed_rows": stock_run.updated,
            "seconds": round(seconds, 2),
            "sent_changes": len(changes),
            "full": stock_run.full,
            "status": stock_run.status,
        }
    ]
