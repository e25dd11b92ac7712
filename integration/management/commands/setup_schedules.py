"""manage.py setup_schedules — create/update the django-q2 schedules by name (idempotent)."""

from django.core.management.base import BaseCommand

from integration.schedules import setup_schedules


class Command(BaseCommand):
    help = "Create or update the integration's django-q2 schedules (stock, catalog, prices, relay, purge)."

    def handle(self, *args, **options):
        for name, outcome in setup_schedules().items():
            self.stdout.write(f"{name}: {outcome}")
