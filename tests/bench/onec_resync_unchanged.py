"""Benchmark: a second full 1C catalog sync of 100,000 unchanged products must write nothing."""

from __future__ import annotations

from tests.bench import _erp, _onec


def run() -> list[dict]:
    sandbox = _onec.start_scale_sandbox()
    try:
        backend = _onec.bench_backend(sandbox)
        _erp.clear_catalog(backend)
        _onec.run_child("catalog", backend.pk)  # the first load is not what we measure
        before = _erp.table_writes()
        report = _onec.run_child("catalog", backend.pk)
        written = _erp.table_writes() - before
    finally:
        sandbox.stop()
    run = report["runs"][0]
    return [{"bench": "onec_resync_unchanged", "products": _erp.PRODUCTS, "rows_written": written,
             "seconds": report["seconds"], "unchanged": run["unchanged"], "peak_rss_mb": report["peak_rss_mb"],
             "status": run["status"]}]
