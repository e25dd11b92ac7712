"""manage.py purge [--max-seconds N] — delete what is past its retention (journal, outbox, inbox, sync runs,
change history), in batches; the same work as the nightly `integration.tasks.purge` schedule."""

from django.core.management.base import BaseCommand

from integration.retention import purge


class Command(BaseCommand):
    help = "Purge the integration's tables by their retention settings (AMOERP_*_RETENTION_*)."

    def add_arguments(self, parser):
        parser.add_argument("--max-seconds", type=float, default=None,
                            help="Stop after this long (the next run continues); default: until done.")

    def handle(self, *args, **options):
        report = purge(max_seconds=options["max_seconds"])
        for name, count in report.deleted.items():
            self.stdout.write(f"{name}: {count}")
        if not report.complete:
            self.stdout.write(self.style.WARNING("stopped by --max-seconds; run again to finish"))
