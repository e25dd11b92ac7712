"""Child process of the 1C benchmarks: `python -m tests.bench._onec_child <full|catalog|fetch> <backend id>`.
`fetch` only reads the pages a full sync reads (products, kits, barcodes, packs, prices, stock balances), writing
nothing: the floor a sync cannot beat. Prints one JSON line: seconds, peak RSS and the runs' counts."""

import json
import resource
import sys
import time

import django


def main(action: str, backend_id: int) -> None:
    django.setup()
    from integration.erp.onec.adapter import OneCAdapter
    from integration.models import Backend
    from integration.syncs import run_sync

    backend = Backend.objects.get(pk=backend_id)
    started = time.monotonic()
    runs, fetched = [], 0
    if action == "fetch":
        adapter = OneCAdapter(backend)
        fetched += sum(len(page) for page in adapter.iter_product_pages())
        fetched += sum(len(page) for page in adapter.iter_bundles())
        fetched += sum(len(page) for page in adapter.iter_stock())
    if action in ("full", "catalog"):
        runs.append(run_sync("catalog", backend, full=True))
    if action == "full":
        runs.append(run_sync("stock", backend, full=True))
    seconds = time.monotonic() - started
    sys.stdout.write(json.dumps({
        "seconds": round(seconds, 2), "fetched": fetched,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "runs": [{"kind": r.kind, "status": r.status, "created": r.created, "updated": r.updated,
                  "unchanged": r.unchanged, "failed": r.failed, "error": r.error} for r in runs],
    }) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
