"""Benchmark: reconcile 100,000 products (3 price lists, 5 warehouses) against the MoySklad sandbox, paged, in
its own process, after CHANGED prices and CHANGED stock rows moved in the ERP behind our back; then repair,
then check again (0 drift expected)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.bench import _erp

CHANGED = 100


def _child(action: str, backend_id: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench._reconcile_child", action, str(backend_id)],
        cwd=_erp.ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"reconcile child {action} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    from catalog.models import PriceList, Product

    sandbox = _erp.start_scale_sandbox()
    try:
        backend = _erp.bench_backend(sandbox)
        _erp.clear_catalog(backend)
        _erp.run_child("full", backend.pk)
        price_type = PriceList.objects.filter(erp_id__isnull=False).order_by("pk").first().erp_id
        store = sandbox.control("moysklad/entities/store", method="GET")[0]["id"]
        products = list(
            Product.objects.filter(tracking="none", kind="goods").order_by("pk").values_list("erp_id", flat=True)[
                :CHANGED
            ]
        )
        for n, erp_id in enumerate(products):
            sandbox.control("moysklad/product", {"id": erp_id, "prices": {price_type: str(10000 + n)}})
        sandbox.control("moysklad/stock", {"changes": [
            {"product": erp_id, "store": store, "stock": 5000 + n} for n, erp_id in enumerate(products)
        ]})
        check = _child("check", backend.pk)
        repair = _child("repair", backend.pk)
        again = _child("check", backend.pk)
    finally:
        sandbox.stop()
    return [
        {
            "bench": "reconcile",
            "products": _erp.PRODUCTS,
            "price_lists": _erp.PRICE_LISTS,
            "warehouses": _erp.WAREHOUSES,
            "changed": {"price": CHANGED, "stock": CHANGED},
            "seconds": check["seconds"],
            "peak_rss_mb": check["peak_rss_mb"],
            "checked": check["checked"],
            "drifts": check["drifts"],
            "repair_seconds": repair["seconds"],
            "repaired": repair["repaired"],
            "drift_after_repair": sum(again["drifts"].values()),
        }
    ]
