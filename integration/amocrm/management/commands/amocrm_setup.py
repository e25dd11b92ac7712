from django.core.management.base import BaseCommand, CommandError

from integration.amocrm.setup import prepare_account
from integration.models import Backend


class Command(BaseCommand):
    help = "Prepare a connected amoCRM account: ИНН/КПП and order fields, the webhook subscription."

    def add_arguments(self, parser):
        parser.add_argument("backend", help="name of the amoCRM backend")
        parser.add_argument("--public-url", default=None, help="our public base URL (default AMOERP PUBLIC_URL)")

    def handle(self, *args, backend, public_url, **options):
        found = Backend.objects.filter(name=backend, kind=Backend.Kind.AMOCRM).first()
        if found is None:
            raise CommandError(f"backend: no amoCRM backend named {backend!r}")
        result = prepare_account(found, public_url=public_url)
        self.stdout.write(f"webhook: {result['webhook']}")
        self.stdout.write(f"company fields: {', '.join(result['company_fields'])}")
