"""Shared setup of the 1C benchmarks: a scale-seeded 1C OData sandbox (УТ 11), a backend, a child process that
runs the 1C syncs (or only fetches the same pages: the floor) and reports its own time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.bench._erp import PRICE_LISTS, PRODUCTS, ROOT, WAREHOUSES

BACKEND_NAME = "bench-onec"
POOL_SIZE = 4


def start_scale_sandbox():
    from integration.sandbox.process import start_sandbox

    return start_sandbox("onec", seed="scale", timeout=600, options={
        "products": PRODUCTS, "warehouses": WAREHOUSES, "price_lists": PRICE_LISTS, "pool_size": POOL_SIZE})


def bench_backend(sandbox):
    from integration.models import Backend

    backend, _ = Backend.objects.update_or_create(name=BACKEND_NAME, defaults={
        "kind": Backend.Kind.ONEC_ODATA, "base_url": sandbox.url + "/demo",
        "credentials": {"login": "Администратор", "password": "sandbox"},
        "settings": {"pool_size": POOL_SIZE}, "active": True})
    return backend


def run_child(action: str, backend_id: int) -> dict:
    """Run `action` (full / catalog / fetch) in a fresh Python process; returns its JSON report."""
    proc = subprocess.run([sys.executable, "-m", "tests.bench._onec_child", action, str(backend_id)], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {action} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
