from django.core.management.base import BaseCommand, CommandError

from integration.erp.moysklad.setup import list_subscriptions, subscribe_webhooks
from integration.errors import IntegrationError
from integration.models import Backend


class Command(BaseCommand):
    help = "Prepare a connected MoySklad account: subscribe our webhooks (entities and stock), idempotently."

    def add_arguments(self, parser):
        parser.add_argument("backend", help="name of the MoySklad backend")
        parser.add_argument(
            "--public-url", default=None, help="our public base URL (default AMOERP_PUBLIC_URL)"
        )
        parser.add_argument(
            "--list", action="store_true", help="only show what is subscribed, change nothing"
        )

    def handle(self, *args, backend, public_url, list, **options):  # noqa: A002 - the option's name
        found = Backend.objects.filter(name=backend, kind=Backend.Kind.MOYSKLAD).first()
        if found is None:
            raise CommandError(f"backend: no MoySklad backend named {backend!r}")
        try:
            if list:
                subscribed = list_subscriptions(found, public_url=public_url)
            else:
                result = subscribe_webhooks(found, public_url=public_url)
                subscribed = result.subscribed
                self.stdout.write(f"webhook: {result.url}")
                for label, topics in (
                    ("created", result.created),
                    ("updated", result.updated),
                    ("removed", result.removed),
                ):
                    self.stdout.write(
                        f"{label}: {len(topics)}" + (f" ({', '.join(topics)})" if topics else "")
                    )
                self.stdout.write(f"unchanged: {len(result.unchanged)}")
        except IntegrationError as exc:
            raise CommandError(f"MoySklad: {exc}") from exc
        self.stdout.write(f"subscribed ({len(subscribed)}):")
        for item in subscribed:
            state = "" if item.enabled else "  [disabled]"
            self.stdout.write(f"  {item.topic:<24} {item.url}{state}")
