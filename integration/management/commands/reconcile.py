"""manage.py reconcile [--repair] [--backend NAME] [--json] — do the ERP, the platform and amoCRM agree?"""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from integration.cli_progress import progress_bar
from integration.models import Backend
from integration.reconciliation.runs import reconcile_and_store


class Command(BaseCommand):
    help = (
        "Compare the ERP, the platform and amoCRM (stock, prices, orders, documents, payments, shipments, deals, "
        "bindings) and list every drift with both values and its likely cause; --repair re-syncs what is safe."
    )

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="", help="Backend name (default: every active backend).")
        parser.add_argument("--repair", action="store_true", help="Repair what is safe; the rest becomes conflicts.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        backend = None
        if options["backend"]:
            backend = Backend.objects.filter(name=options["backend"]).first()
            if backend is None:
                raise CommandError(f"no backend named {options['backend']!r}")
        bar = None if options["no_progress"] or options["json"] else progress_bar("reconcile", self.stderr._out)
        run, report = reconcile_and_store(backend=backend, repair=options["repair"], progress=bar)
        if bar:
            bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(asdict(report), ensure_ascii=False, indent=2))
            return
        for drift in report.drifts:
            mark = "repaired" if drift.repaired else "DRIFT"
            sides = [f"{name}: {value}" for name, value in (("ERP", drift.erp), ("platform", drift.platform),
                                                               ("amoCRM", drift.crm)) if value]
            self.stdout.write(f"{mark:8} {drift.area:9} {drift.key} | {' | '.join(sides)} | cause: {drift.cause}")
        checked = ", ".join(f"{area} {n}" for area, n in sorted(report.checked.items()))
        self.stdout.write(
            f"reconcile #{run.pk}: compared {checked or 'nothing'}; {len(report.drifts)} drift(s), "
            f"{report.repaired} repaired, {len(report.open_drifts)} open"
        )
