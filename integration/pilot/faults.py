"""The faults of an ordinary week, injected through the sandboxes' fault controls and by killing processes.

`standard`: the ERP down for 15 minutes; amoCRM answering 429 for a minute and once 403; responses lost after
the write committed on both sides; every MoySklad webhook delivered twice, some out of order and some never;
amoCRM's webhooks replayed (duplicates, in reverse order); a queue worker SIGKILLed mid-delivery and restarted;
the amoCRM access token expiring mid-day; PostgreSQL restarted (fast shutdown: every connection cut) when the
harness runs on a cluster it may restart (`AMOERP_TEST_PG_CTL`, set by tests/with_postgres.sh). Spread over
the days (all on day one for a one-day run).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass

from integration.pilot.clock import SimClock
from integration.pilot.ledger import Ledger

MIN_REAL_SECONDS = 2.0  # a fault shorter than this would miss every request at high acceleration


@dataclass(frozen=True)
class Fault:
    name: str
    minute: float  # simulated minute of the working day
    minutes: float = 0  # how long it lasts


STANDARD = (
    Fault("webhooks_unreliable", 0),
    Fault("responses_lost", 60),
    Fault("erp_down", 120, 15),
    Fault("amocrm_429", 200, 1),
    Fault("amocrm_403", 260, 1),
    Fault("worker_killed", 300, 5),
    Fault("token_expired", 330),
    Fault("postgres_restarted", 380),
    Fault("amocrm_webhooks_replayed", 420),
)
FAULT_SETS = {"none": (), "standard": STANDARD}


class Faults:
    def __init__(self, world, ledger: Ledger, clock: SimClock, faults: tuple[Fault, ...], rng: random.Random):
        self.world, self.ledger, self.clock, self.faults, self.rng = world, ledger, clock, faults, rng
        self.stop = threading.Event()

    def for_day(self, day: int, days: int) -> list[Fault]:
        if not self.faults:
            return []
        if days == 1:
            return list(self.faults)
        # spread: the unreliable webhooks every day, each other fault on its own day
        return [f for i, f in enumerate(self.faults) if f.name == "webhooks_unreliable" or i % days == day - 1]

    def start_day(self, day: int, days: int) -> threading.Thread | None:
        todays = self.for_day(day, days)
        if not todays:
            return None
        self.stop.clear()
        thread = threading.Thread(target=self._play, args=(todays,), name="faults", daemon=True)
        thread.start()
        return thread

    def end_day(self, thread: threading.Thread | None) -> None:
        if thread is None:
            return
        self.stop.set()
        thread.join()
        self._heal()

    def _play(self, todays: list[Fault]) -> None:
        for fault in todays:
            delay = self.clock.started + self.clock.real(fault.minute) - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                return
            self.ledger.note("faults", f"{SimClock.label(self.clock.now_minute())} {fault.name}")
            getattr(self, f"do_{fault.name}")(fault)

    def _wait(self, fault: Fault) -> None:
        self.stop.wait(max(self.clock.real(fault.minutes), MIN_REAL_SECONDS))

    def _heal(self) -> None:
        self.world.ms.set_faults(down=False, error_rate=0.0, drop_responses=0, path_regex="")
        self.world.amo.set_faults(error_rate=0.0, drop_responses=0, path_regex="")
        platform = self.world.platform
        for name in list(platform.processes):
            if platform.processes[name].poll() is not None:
                platform.start(name)

    # ------------------------------------------------------------------------------------------ the faults
    def do_webhooks_unreliable(self, fault: Fault) -> None:
        self.world.ms.control("moysklad/webhooks/faults", {"duplicate": True, "reorder_every": 7, "lose_every": 29})

    def do_responses_lost(self, fault: Fault) -> None:
        self.world.ms.set_faults(drop_responses=3, path_regex="customerorder|invoiceout")
        self.world.amo.set_faults(drop_responses=3, path_regex="^/api/v4/leads")

    def do_erp_down(self, fault: Fault) -> None:
        self.world.ms.set_faults(down=True, path_regex="")
        self._wait(fault)
        self.world.ms.set_faults(down=False)

    def do_amocrm_429(self, fault: Fault) -> None:
        self.world.amo.set_faults(error_rate=1.0, error_status=429, path_regex="^/api/v4")
        self._wait(fault)
        self.world.amo.set_faults(error_rate=0.0, path_regex="")

    def do_amocrm_403(self, fault: Fault) -> None:
        seconds = max(self.clock.real(fault.minutes), MIN_REAL_SECONDS)
        self.world.amo.control("amocrm/block", {"seconds": seconds})
        self.stop.wait(seconds)
        # The platform pauses amoCRM on a 403 until staff resume it (the runbook): the operator on duty does.
        from django.core.management import call_command

        self.stop.wait(max(self.clock.real(10), 1))
        call_command("backend", "resume", self.world.crm.name, stdout=io.StringIO())
        self.ledger.note("faults", "operator resumed amoCRM after the 403 (runbook)")

    def do_worker_killed(self, fault: Fault) -> None:
        from integration.models import OutboxEvent

        platform = self.world.platform
        deadline = time.monotonic() + max(self.clock.real(30), 5)
        while time.monotonic() < deadline:  # wait for a delivery in flight, then pull the plug
            if OutboxEvent.objects.filter(status=OutboxEvent.Status.IN_FLIGHT).exists():
                break
            time.sleep(0.02)
        platform.kill("queue_worker_1")
        self._wait(fault)
        platform.start("queue_worker_1")

    def do_token_expired(self, fault: Fault) -> None:
        """amoCRM's clock jumps past our access token's expiry (a day and a minute). It never goes back: the
        sandbox's rate window would keep the future requests for a day. Widget tokens are signed at real time."""
        self.world.amo.control("amocrm/clock", {"advance": 86400 + 60})

    def do_postgres_restarted(self, fault: Fault) -> None:
        pg_ctl = os.environ.get("AMOERP_TEST_PG_CTL")
        if not pg_ctl:
            self.ledger.note("faults", "PostgreSQL not restarted: the harness may not restart this database")
            return
        subprocess.run([pg_ctl, "restart"], check=True, timeout=120)

    def do_amocrm_webhooks_replayed(self, fault: Fault) -> None:
        deliveries = self.world.amo.control("amocrm/webhooks/deliveries", None, method="GET")["deliveries"]
        ids = [d["id"] for d in deliveries][-40:]
        self.world.amo.control("amocrm/webhooks/replay", {"ids": list(reversed(ids))})
