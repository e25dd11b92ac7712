"""`manage.py simulate_pilot`: a week of trading (or a day) against the running platform and the sandboxes,
with the ordinary faults, ending with an audit. Exit 1 on any loss, doubling, drift, document total that
differs from the ERP's, or unapproved sale "в минус". Needs an empty, migrated (or migratable) database."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from integration.pilot.faults import FAULT_SETS
from integration.pilot.run import Options, run_pilot


class Command(BaseCommand):
    help = "Rehearse the pilot: simulated days of trading with faults, then the audit and the report."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("--managers", type=int, default=20)
        parser.add_argument("--deals-per-day", type=int, default=60)
        parser.add_argument("--warehouses", type=int, default=3,
                            help="the demo company's warehouses (3); other values are refused")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--faults", choices=sorted(FAULT_SETS), default="standard")
        parser.add_argument("--day-seconds", type=float, default=60.0,
                            help="real seconds one simulated working day (9:00-18:00) takes")
        parser.add_argument("--log-dir", default="", help="keep the platform processes' output here")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, days, managers, deals_per_day, warehouses, seed, faults, day_seconds, log_dir, json,
               **options):
        if warehouses != 3:
            raise CommandError("--warehouses: the demo company has 3 warehouses; other counts are not simulated")
        if days < 1 or managers < 1 or deals_per_day < 1:
            raise CommandError("--days, --managers and --deals-per-day must be at least 1")
        # SIGTERM (a timeout, CI) unwinds like Ctrl-C, so the platform's processes and the sandboxes are stopped
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
        directory = Path(log_dir) if log_dir else None
        if directory:
            directory.mkdir(parents=True, exist_ok=True)
        report = run_pilot(Options(days=days, managers=managers, deals_per_day=deals_per_day, warehouses=warehouses,
                                   seed=seed, faults=faults, day_seconds=day_seconds, log_dir=directory),
                           out=sys.stderr)
        self.stdout.write(report.as_json() if json else report.as_text())
        if report.failed:
            sys.exit(1)
