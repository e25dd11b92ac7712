"""Shared setup of the ERP benchmarks: a scale-seeded MoySklad sandbox, a backend, a child process that
runs a sync and reports its own time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PRODUCTS = int(os.environ.get("BENCH_ERP_PRODUCTS", "100000"))
WAREHOUSES = 5
PRICE_LISTS = 3
ROOT = Path(__file__).resolve().parents[2]
BACKEND_NAME = "bench-moysklad"


def start_scale_sandbox():
    from integration.sandbox.process import start_sandbox

    return start_sandbox(
        "moysklad",
        seed="scale",
        timeout=300,
        options={"products": PRODUCTS, "warehouses": WAREHOUSES, "price_lists": PRICE_LISTS},
    )


def bench_backend(sandbox):
    from integration.models import Backend

    backend, _ = Backend.objects.update_or_create(
        name=BACKEND_NAME,
        defaults={
            "kind": Backend.Kind.MOYSKLAD,
            "base_url": sandbox.url + "/api/remap/1.2",
            "credentials": {"token": "sandbox-token"},
            "settings": {},
            "active": True,
        },
    )
    return backend


def run_child(action: str, backend_id: int) -> dict:
    """Run `action` (full / catalog / stock) in a fresh Python process; returns its JSON report."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench._erp_child", action, str(backend_id)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {action} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def synced_products(backend) -> int:
    from catalog.models import Product
    from integration.models import Binding

    return Binding.objects.filter(backend=backend, object_id__in=Product.objects.values("pk")).count()


def clear_catalog(backend) -> None:
    from django.db import connection

    from integration.models import Binding, SyncRun

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE catalog_stocklevel, catalog_price, catalog_barcode, catalog_pack, catalog_kitcomponent, "
            "catalog_batch, catalog_historicalproduct, catalog_product CASCADE"
        )
    Binding.objects.filter(backend=backend).delete()
    SyncRun.objects.filter(backend=backend).delete()
    backend.cursors = {}
    backend.save(update_fields=["cursors"])


def table_writes() -> int:
    """Rows inserted/updated/deleted so far in the catalog tables, history and bindings (pg_stat)."""
    from django.db import connection

    time.sleep(0.7)  # the child's statistics reach the shared stats when it exits
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE relname LIKE 'catalog_%%' OR relname = 'integration_binding'"
        )
        return int(cursor.fetchone()[0])
