"""manage.py sync <kind> [--backend NAME] [--full] [--dry-run] — with a progress bar on stderr (plain lines
when stderr is not a terminal); the admin shows the same run's progress live."""

from django.core.management.base import BaseCommand, CommandError

from integration import syncs
from integration.cli_progress import progress_bar
from integration.errors import BackendPaused, SyncAlreadyRunning, UnknownSyncKind
from integration.models import Backend, SyncRun


class Command(BaseCommand):
    help = "Run one sync (catalog, prices, stock, counterparties, orders, crm_catalog) for one or all backends."

    def add_arguments(self, parser):
        parser.add_argument("kind", help="catalog | prices | stock | counterparties | orders | crm_catalog")
        parser.add_argument("--backend", default="", help="Backend name (default: every active backend with this sync).")
        parser.add_argument("--full", action="store_true", help="Ignore cursors; re-read everything.")
        parser.add_argument("--dry-run", action="store_true", help="Read and compare, write nothing.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        kind = options["kind"]
        if options["backend"]:
            try:
                backends = [Backend.objects.get(name=options["backend"])]
            except Backend.DoesNotExist as exc:
                raise CommandError(f"no backend named {options['backend']!r}") from exc
        else:
            backends = syncs.backends_for(kind)
            if not backends:
                known = ", ".join(syncs.registered_kinds()) or "none"
                raise CommandError(f"no active backend has a sync {kind!r} (registered kinds: {known})")
        failed = False
        for backend in backends:
            bar = None if options["no_progress"] else progress_bar(f"{kind}/{backend.name}", self.stderr._out)
            try:
                run = syncs.run_sync(
                    kind, backend, full=options["full"], dry_run=options["dry_run"], trigger=SyncRun.Trigger.MANUAL, progress=bar
                )
            except (UnknownSyncKind, BackendPaused, SyncAlreadyRunning) as exc:
                raise CommandError(str(exc)) from exc
            except Exception as exc:  # noqa: BLE001 - reported, then the command fails
                failed = True
                self.stderr.write(f"{kind}/{backend.name}: failed: {type(exc).__name__}: {exc}")
                continue
            finally:
                if bar is not None:
                    bar.close()
            self.stdout.write(
                f"{kind}/{backend.name}: {getattr(run, 'status', '?')} — created {run.created}, updated {run.updated}, "
                f"unchanged {run.unchanged}, skipped {run.skipped}, failed {run.failed}"
            )
            if getattr(run, "status", "") == SyncRun.Status.FAILED:
                failed = True
        if failed:
            raise CommandError(f"sync {kind}: at least one backend failed")
