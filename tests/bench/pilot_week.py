"""The pilot week as a bench line: `make bench BENCH=pilot_week` (7 days, 20 managers, standard faults).

PILOT_DAYS, PILOT_MANAGERS, PILOT_DEALS_PER_DAY, PILOT_DAY_SECONDS, PILOT_FAULTS shrink it for a quick run.
Aims: 0 lost, doubled, drift, document errors, unapproved sales "в минус" and duplicates; automatic reserves
≥ 98 %; quote → invoice median ≤ 60 s; the week in ≤ 10 minutes on 2 cores.
"""

from __future__ import annotations

import os
import sys

FIELDS = ("bench", "days", "managers", "deals", "orders", "faults", "lost", "doubled", "drift", "document_errors",
          "auto_reserve_share", "quote_to_invoice_median_s", "sales_minus_unapproved", "duplicates_created",
          "orders_held", "settled", "seconds")


def run() -> list[dict]:
    from integration.pilot.run import Options, run_pilot

    options = Options(days=int(os.environ.get("PILOT_DAYS", "7")),
                      managers=int(os.environ.get("PILOT_MANAGERS", "20")),
                      deals_per_day=int(os.environ.get("PILOT_DEALS_PER_DAY", "60")),
                      day_seconds=float(os.environ.get("PILOT_DAY_SECONDS", "60")),
                      faults=os.environ.get("PILOT_FAULTS", "standard"),
                      seed=int(os.environ.get("PILOT_SEED", "1")))
    report = run_pilot(options, out=sys.stderr)
    if report.findings:
        sys.stderr.write("pilot findings:\n" + "\n".join(report.findings[:100]) + "\n")
    return [{name: report.summary[name] for name in FIELDS}]
