from django.core.management.base import BaseCommand

from integration.staff.groups import setup_groups


class Command(BaseCommand):
    help = "Create or refresh the staff groups (Integration admin / operator / Auditor) and their permissions."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        for report in setup_groups(using=options["database"]):
            line = f"{report.name}: {report.permissions} permissions"
            if report.missing:
                line += f" (not defined yet: {', '.join(report.missing)})"
            self.stdout.write(line)
