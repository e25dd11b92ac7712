"""What the simulation did, and therefore what it expects every side to hold at the end."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Deal:
    lead_id: int
    manager: int
    company: str  # known | new | wrong_inn | duplicate | contact | none
    cart: bool = False  # a cart was accepted (reserved, or approved "в минус")
    approved: bool = False
    refused: bool = False
    cancelled: bool = False
    edits: int = 0
    documents: list[str] = field(default_factory=list)  # kinds the manager asked for


@dataclass
class Ledger:
    deals: dict[int, Deal] = field(default_factory=dict)
    payments: list[tuple[str, str, float]] = field(default_factory=list)  # (ERP order id, paymentin id, kopecks)
    demands: list[tuple[str, str]] = field(default_factory=list)  # (ERP order id, demand id)
    returns: list[tuple[str, str]] = field(default_factory=list)  # (demand id, salesreturn id)
    order_edits: list[str] = field(default_factory=list)  # ERP order ids edited in MoySklad
    products_added: list[str] = field(default_factory=list)  # ERP product ids
    products_renamed: dict[str, str] = field(default_factory=dict)  # ERP id -> new name
    products_archived: list[str] = field(default_factory=list)
    counterparties_added: list[str] = field(default_factory=list)
    actions: Counter = field(default_factory=Counter)
    gave_up: list[str] = field(default_factory=list)  # what people left undone (and why)
    faults: list[str] = field(default_factory=list)  # faults applied, with the simulated time
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, action: str, n: int = 1) -> None:
        with self.lock:
            self.actions[action] += n

    def add_deal(self, deal: Deal) -> Deal:
        with self.lock:
            self.deals[deal.lead_id] = deal
            self.actions["deals"] += 1
        return deal

    def note(self, attr: str, value) -> None:
        with self.lock:
            getattr(self, attr).append(value)
