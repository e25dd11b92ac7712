"""Child process of the reconcile benchmark: `python -m tests.bench._reconcile_child <check|repair> <backend id>`.
Prints one JSON line: seconds, peak RSS (this process only), drifts by area, repaired, records compared."""

import json
import resource
import sys
import time
from collections import Counter

import django


def main(action: str, backend_id: int) -> None:
    django.setup()
    from integration.models import Backend
    from integration.reconciliation import reconcile

    backend = Backend.objects.get(pk=backend_id)
    started = time.monotonic()
    report = reconcile(backend=backend, repair=action == "repair")
    sys.stdout.write(json.dumps({
        "seconds": round(time.monotonic() - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "drifts": dict(Counter(d.area for d in report.drifts)),
        "repaired": report.repaired,
        "checked": report.checked,
    }) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
