"""One pilot run: start the world, play the days (with the faults), settle, audit, report."""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import connections
from django.utils import timezone

from integration.models import Progress
from integration.pilot import audit as auditing
from integration.pilot.clock import SimClock
from integration.pilot.faults import FAULT_SETS, Faults
from integration.pilot.ledger import Ledger
from integration.pilot.report import Report, build_report
from integration.pilot.scenario import Catalog, Player, plan_day
from integration.pilot.world import World, start_world
from integration.progress import tracked


@dataclass
class Options:
    days: int = 7
    managers: int = 20
    deals_per_day: int = 60
    warehouses: int = 3
    seed: int = 1
    faults: str = "standard"
    day_seconds: float = 60.0
    log_dir: Path | None = None
    settle_seconds: float = 120.0  # how long the queues may go without shrinking after the last day


def know_the_business(world: World, seed: int) -> Catalog:
    """What the people know before day one: words to search, the clients in amoCRM, the ERP's stores."""
    from catalog.models import Product
    from counterparties.models import Counterparty

    rng = random.Random(seed)
    names = list(Product.objects.filter(active=True).values_list("name", flat=True))
    terms = sorted({name.split()[0].lower() for name in names if name.split()})
    articles = list(Product.objects.filter(active=True, kind="goods").exclude(article="")
                    .values_list("article", flat=True))
    companies = [row["id"] for row in world.amo.control("amocrm/dump?entity=companies", None, method="GET")["rows"]]
    requisites = list(Counterparty.objects.exclude(inn="").exclude(kpp="").values_list("name", "inn", "kpp")[:30])
    stores = [s["name"] for s in world.ms.control("moysklad/entities/store", None, method="GET")]
    rng.shuffle(terms)
    return Catalog(terms=terms[:40] or ["кабель"], companies=companies, requisites=requisites, stores=stores,
                   articles=sorted(articles))


def progress_bar(total: int, desc: str, out):
    """A tqdm bar on a terminal; plain lines otherwise (CI logs, pipes)."""
    if out.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=out, leave=True, dynamic_ncols=True)
    return _PlainBar(total, desc, out)


class _PlainBar:
    def __init__(self, total: int, desc: str, out):
        self.total, self.desc, self.out, self.n, self.lock = total, desc, out, 0, threading.Lock()
        self.next_mark = 0.25

    def update(self, n: int = 1) -> None:
        with self.lock:
            self.n += n
            if self.total and self.n / self.total >= self.next_mark:
                self.out.write(f"{self.desc}: {self.n}/{self.total}\n")
                self.out.flush()
                while self.n / self.total >= self.next_mark:
                    self.next_mark += 0.25

    def close(self) -> None:
        pass


def _both(update, tracker):
    """The player's `update(n=1)` feeding both the terminal bar and the admin's progress."""

    def advance(n: int = 1) -> None:
        update(n)
        tracker.update(advance=n)

    return advance


def run_pilot(options: Options, *, out=None, world: World | None = None) -> Report:
    """Play the pilot; `world` may be one already running (the demo's), else one is started and stopped here."""
    out = out or sys.stderr
    started_at = time.monotonic()
    started_on = timezone.localdate()
    own_world = world is None
    if world is None:
        out.write("pilot: preparing the sandboxes, the platform and the demo company…\n")
        world = start_world(log=out, log_dir=options.log_dir)
    ledger = Ledger()
    clock = SimClock(day_seconds=options.day_seconds)
    try:
        catalog = know_the_business(world, options.seed)
        baseline = auditing.duplicate_groups(world)
        player = Player(world, ledger, catalog, options.seed, clock, options.managers)
        faults = Faults(world, ledger, clock, FAULT_SETS[options.faults], random.Random(options.seed))
        rng = random.Random(options.seed)
        with tracked(Progress.Operation.PILOT, f"pilot rehearsal, {options.days} day(s)", unit=Progress.Unit.RECORDS,
                     errors_from=lambda: len(ledger.gave_up)) as tracker:
            for number in range(1, options.days + 1):
                day = plan_day(number, rng, clock, options.managers, options.deals_per_day)
                bar = progress_bar(day.size, f"day {number}/{options.days}", out)
                tracker.step(f"day {number}/{options.days}")
                tracker.expect((tracker.record.total or 0) + day.size)
                clock.start_day()
                fault_thread = faults.start_day(number, options.days)
                try:
                    player.play(day, _both(bar.update, tracker))
                finally:
                    faults.end_day(fault_thread)
                    bar.close()
            player.close()
            connections.close_all()  # a fault may have restarted PostgreSQL under this process's connection
            out.write("pilot: the days are over; waiting for the queues to settle…\n")
            tracker.step("settling the queues")
            settling = time.monotonic()
            settled = auditing.settle(world, options.settle_seconds)
            auditing.run_schedules(world)
            settled = auditing.settle(world, options.settle_seconds) and settled
            settle_seconds = time.monotonic() - settling
            out.write("pilot: auditing the ERP, the platform and amoCRM…\n")
            tracker.step("audit")
            result = auditing.audit(world, ledger, started=started_on, baseline=baseline)
        result.settled = settled
        if not settled:
            for line in auditing.describe_pending():
                result.add("unsettled", "queue", "pending", line)
        return build_report(options, ledger, result, seconds=time.monotonic() - started_at,
                            settle_seconds=settle_seconds)
    finally:
        if own_world:
            world.stop()
