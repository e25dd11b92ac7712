"""Child process of the ERP benchmarks: `python -m tests.bench._erp_child <full|catalog|stock> <backend id>`.
Prints one JSON line: seconds, peak RSS (this process only) and the runs' counts."""

import json
import resource
import sys
import time

import django


def main(action: str, backend_id: int) -> None:
    django.setup()
    from integration.erp.moysklad.catalog_sync import sync_catalog
    from integration.erp.moysklad.stock_sync import sync_stock
    from integration.models import Backend

    backend = Backend.objects.get(pk=backend_id)
    started = time.monotonic()
    runs = []
    if action in ("full", "catalog"):
        runs.append(sync_catalog(backend, full=True))
    if action in ("full", "stock"):
        runs.append(sync_stock(backend, full=True))
    seconds = time.monotonic() - started
    report = {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "runs": [
            {
                "kind": r.kind,
                "status": r.status,
                "created": r.created,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "failed": r.failed,
                "error": r.error,
            }
            for r in runs
        ],
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
