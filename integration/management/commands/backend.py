"""manage.py backend pause|resume NAME [--reason TEXT] | list"""

from django.core.management.base import BaseCommand, CommandError

from integration.backends import pause_backend, resume_backend
from integration.models import Backend
from integration.secrets import mask_secret


class Command(BaseCommand):
    help = "Pause or resume a backend (its traffic is held, nothing is lost), or list backends."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        pause = sub.add_parser("pause")
        pause.add_argument("name")
        pause.add_argument("--reason", default="")
        resume = sub.add_parser("resume")
        resume.add_argument("name")
        sub.add_parser("list")

    def handle(self, *args, **options):
        if options["action"] == "list":
            for b in Backend.objects.all():
                creds = ", ".join(f"{k}={mask_secret(v)}" for k, v in sorted(b.credentials.items()))
                state = "paused" if b.paused else ("inactive" if not b.active else "active")
                self.stdout.write(f"{b.name}\t{b.kind}\t{state}{' dry-run' if b.dry_run else ''}\t{b.base_url}\t{creds}")
            return
        try:
            backend = Backend.objects.get(name=options["name"])
        except Backend.DoesNotExist as exc:
            raise CommandError(f"no backend named {options['name']!r}") from exc
        if options["action"] == "pause":
            pause_backend(backend, reason=options["reason"])
            self.stdout.write(f"backend {backend.name}: paused")
        else:
            resume_backend(backend)
            self.stdout.write(f"backend {backend.name}: resumed")
