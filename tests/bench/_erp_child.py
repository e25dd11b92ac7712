"""Child process of the ERP benchmarks: `python -m tests.bench._erp_child <full|catalog|stock|fetch> <backend id>`.
Prints one JSON line: seconds, peak RSS (this process only) and the runs' counts.

`fetch` is the floor a full sync cannot beat (issue 18): every page the sync reads, fetched and parsed as JSON and
nothing more, plus a PostgreSQL COPY of as many rows as the sync writes (a product and its price per price list,
a stock row per product × warehouse) into an unlogged scratch table."""

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
    runs, fetched = [], 0
    if action == "fetch":
        fetched = fetch_and_copy(backend)
    if action in ("full", "catalog"):
        runs.append(sync_catalog(backend, full=True))
    if action in ("full", "stock"):
        runs.append(sync_stock(backend, full=True))
    seconds = time.monotonic() - started
    report = {
        "seconds": round(seconds, 2),
        "fetched": fetched,
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


def fetch_and_copy(backend) -> int:
    from django.db import connection

    from integration.erp.moysklad.adapter import MoySkladAdapter
    from tests.bench._erp import PRICE_LISTS

    adapter = MoySkladAdapter(backend)
    products = sum(len(page) for page in adapter.iter_product_rows())
    products += sum(len(page) for page in adapter.iter_bundle_rows())
    stock = sum(len(row.get("stockByStore") or ()) for page in adapter.iter_stock_rows() for row in page)
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNLOGGED TABLE bench_floor_scratch (id bigint, erp_id text, amount numeric)")
        try:
            with cursor.copy("COPY bench_floor_scratch (id, erp_id, amount) FROM STDIN") as copy:
                for n in range(products * (1 + PRICE_LISTS) + stock):
                    copy.write_row((n, f"00000000-0000-4000-8000-{n:012d}", n))
        finally:
            cursor.execute("DROP TABLE bench_floor_scratch")
    return products + stock


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
