"""The pilot's report: the counts, every finding, the KPIs, the slowest exchanges; text and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

FAILING = ("lost", "doubled", "drift", "document", "minus")


@dataclass
class Report:
    summary: dict[str, Any]
    findings: list[str] = field(default_factory=list)
    kpis: dict[str, Any] = field(default_factory=dict)
    slowest: list[dict] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(self.summary[k] for k in ("lost", "doubled", "drift", "document_errors",
                                              "sales_minus_unapproved", "duplicates_created")) \
            or not self.summary["settled"]

    def as_json(self) -> str:
        return json.dumps({**self.summary, "findings": self.findings, "kpis": self.kpis, "slowest": self.slowest,
                           "faults_applied": self.faults, "gave_up": self.gave_up},
                          ensure_ascii=False, default=_plain)

    def as_text(self) -> str:
        s = self.summary
        lines = [
            f"pilot: {s['days']} day(s), {s['managers']} managers, seed {s['seed']}, faults {s['faults']}, "
            f"{s['seconds']:.0f} s",
            f"  deals {s['deals']}  orders {s['orders']}  lines {s['lines']}  documents {s['documents']}  "
            f"payments {s['payments']}  shipments {s['shipments']}  returns {s['returns']}",
            f"  lost {s['lost']}  doubled {s['doubled']}  drift {s['drift']}  document errors "
            f"{s['document_errors']}  unapproved в минус {s['sales_minus_unapproved']}  duplicates created "
            f"{s['duplicates_created']}  settled {s['settled']} after {s['settle_s']:.0f} s",
            f"  KPIs: automatic reserves {s['auto_reserve_share']}, quote → invoice median "
            f"{s['quote_to_invoice_median_s']} s, sales в минус approved {self.kpis.get('sales_in_minus')}",
        ]
        if self.faults:
            lines.append("  faults: " + "; ".join(self.faults))
        if self.findings:
            lines.append("  findings:")
            lines += [f"    {f}" for f in self.findings[:200]]
        if self.gave_up:
            lines.append(f"  left undone by people ({len(self.gave_up)}):")
            lines += [f"    {g}" for g in self.gave_up[:20]]
        lines.append("  slowest exchanges:")
        lines += [f"    {x['duration_ms']:>6} ms {x['direction']} {x['method']} {x['status_code']} {x['url']}"
                  for x in self.slowest]
        lines.append("  result: " + ("FAILED" if self.failed else "OK"))
        return "\n".join(lines)


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def build_report(options, ledger, audit, *, seconds: float, settle_seconds: float = 0.0) -> Report:
    kpis = audit.kpis
    share = kpis.get("automatic_reserve_share")
    median = kpis.get("quote_to_invoice_median_seconds")
    duplicates = sum(1 for f in audit.findings if f.kind == "doubled" and f.area in ("counterparty", "product"))
    summary = {
        "bench": "pilot_week", "days": options.days, "managers": options.managers, "seed": options.seed,
        "deals": len(ledger.deals), "orders": audit.counts.get("orders", 0), "lines": audit.counts.get("lines", 0),
        "documents": audit.counts.get("documents", 0), "payments": audit.counts.get("payments", 0),
        "shipments": audit.counts.get("shipments", 0), "returns": audit.counts.get("returns", 0),
        "faults": options.faults,
        "lost": audit.number("lost"), "doubled": audit.number("doubled"), "drift": audit.number("drift"),
        "document_errors": audit.number("document"),
        "auto_reserve_share": float(share) if share is not None else None,
        "quote_to_invoice_median_s": float(median) if median is not None else None,
        "sales_minus_unapproved": audit.number("minus"), "duplicates_created": duplicates,
        "orders_held": audit.counts.get("orders_held", 0), "settled": audit.settled, "seconds": round(seconds, 1),
        "settle_s": round(settle_seconds, 1),
    }
    return Report(summary=summary, findings=[f.line() for f in audit.findings], kpis=kpis, slowest=audit.slowest,
                  faults=list(ledger.faults), gave_up=list(ledger.gave_up))
