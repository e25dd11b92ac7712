import json

from django.core.management.base import BaseCommand, CommandError

from integration.staff.readiness import FAIL, overall, run_readiness, spec_codes


class Command(BaseCommand):
    help = ("The pre-launch checklist («Готовность к запуску») over the mirrored ERP/CRM data and the platform's "
            "setup; stored like a run of the admin page. Exit code 1 while a check fails unacknowledged.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the results as JSON")
        parser.add_argument("--check", action="append", choices=spec_codes(), help="only this check (repeatable)")
        parser.add_argument("--limit", type=int, default=20, help="offenders listed per check (text output)")

    def handle(self, *args, json: bool, check: list[str] | None, limit: int, **options):  # noqa: A002
        results = run_readiness(codes=check)
        status = overall(results)
        if json:
            self.stdout.write(_dumps({"status": status, "checks": [r.as_dict() for r in results]}))
        else:
            for result in results:
                ack = f" (acknowledged by {result.acknowledged_by}, {result.acknowledged_at})" \
                    if result.acknowledged_at else ""
                self.stdout.write(f"[{result.status.upper():4}] {result.code}: {result.title} — "
                                  f"{result.count} of {result.checked}{ack}")
                for offender in result.offenders[:limit]:
                    hint = f" → {offender.suggestion}" if offender.suggestion else ""
                    self.stdout.write(f"    {offender.label}: {offender.problem}{hint}")
                if not result.passed:
                    self.stdout.write(f"    fix: {result.fix}")
            self.stdout.write(f"overall: {status}")
        if status == FAIL:
            raise CommandError("the pre-launch checklist fails", returncode=1)


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
