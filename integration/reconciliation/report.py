"""The reconciliation report: the drifts found, how many were repaired, how many records were compared."""

from __future__ import annotations

from dataclasses import dataclass, field

AREAS = ("stock", "price", "order", "document", "payment", "shipment", "binding", "deal")


@dataclass
class Drift:
    """One disagreement: `key` names the record (e.g. "order 42 line ART-1"); the values are as each side
    holds them ("" where the side does not take part); `cause` is the likely reason."""

    area: str
    key: str
    erp: str = ""
    platform: str = ""
    crm: str = ""
    cause: str = ""
    repaired: bool = False


@dataclass
class ReconcileReport:
    drifts: list[Drift] = field(default_factory=list)
    repaired: int = 0
    checked: dict[str, int] = field(default_factory=dict)

    def count(self, area: str, n: int = 1) -> None:
        self.checked[area] = self.checked.get(area, 0) + n

    def add(self, drift: Drift) -> Drift:
        self.drifts.append(drift)
        if drift.repaired:
            self.repaired += 1
        return drift

    def merge(self, other: ReconcileReport) -> None:
        self.drifts += other.drifts
        self.repaired += other.repaired
        for area, n in other.checked.items():
            self.count(area, n)

    @property
    def open_drifts(self) -> list[Drift]:
        return [d for d in self.drifts if not d.repaired]
