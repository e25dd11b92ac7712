"""manage.py outbox relay [--once] [--worker NAME] [--handlers MOD,...] | drain | status | replay ID... | discard ID..."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from integration import outbox, relay
from integration.cli_progress import progress_bar
from integration.models import OutboxEvent, Progress
from integration.progress import chain, tracked
from integration.worker import run_worker


class Command(BaseCommand):
    help = "Deliver the outbox: run the relay, drain what is due, replay or discard events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("relay", help="Run the relay (continuously, or one batch with --once).")
        run.add_argument("--once", action="store_true", help="Deliver one batch and exit.")
        run.add_argument("--worker", default="", help="Worker name recorded in leases and attempts.")
        run.add_argument("--limit", type=int, default=50, help="Events claimed per batch.")
        run.add_argument("--idle", type=float, default=0.5, help="Seconds to sleep when nothing is due.")
        run.add_argument("--handlers", default="", help="Extra handler modules to import, comma-separated.")
        run.add_argument("--lease", type=float, default=None, help="Lease seconds (default OUTBOX_LEASE_SECONDS).")
        drain = sub.add_parser("drain", help="Deliver everything due now, then exit.")
        drain.add_argument("--worker", default="")
        drain.add_argument("--handlers", default="")
        drain.add_argument("--max-seconds", type=float, default=None)
        sub.add_parser("status", help="Count events per status.")
        replay = sub.add_parser("replay", help="Queue dead/discarded events again.")
        replay.add_argument("ids", nargs="+", type=int)
        discard = sub.add_parser("discard", help="Give up on pending/dead events.")
        discard.add_argument("ids", nargs="+", type=int)
        discard.add_argument("--reason", default="")

    def handle(self, *args, **options):
        action = options["action"]
        if action in ("relay", "drain"):
            outbox.load_handler_modules(tuple(m for m in options["handlers"].split(",") if m))
        worker = options.get("worker") or relay.default_worker_id()
        if options.get("lease"):
            settings.AMOERP = {**settings.AMOERP, "OUTBOX_LEASE_SECONDS": options["lease"]}
        if action == "relay":
            if options["once"]:
                count = relay.relay_once(worker, options["limit"])
                self.stdout.write(f"relay {worker}: {count} event(s) attempted")
                return
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())

            def ready():
                self.stdout.write(f"relay {worker}: running", ending="\n")
                self.stdout.flush()

            # The outbox half of `queue_worker`: woken by NOTIFY on PostgreSQL, else every --idle seconds.
            stats = run_worker(worker, stop=stop, poll=options["idle"], limit=options["limit"], queues=("outbox",),
                               on_ready=ready)
            self.stdout.write(f"relay {worker}: stopped after {stats.handled['outbox']} attempt(s)")
        elif action == "drain":
            due = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, next_attempt_at__lte=timezone.now()).count()
            bar = progress_bar("outbox drain", self.stderr._out)
            try:
                with tracked(Progress.Operation.DRAIN, "outbox drain", total=due) as tracker:
                    count = relay.drain(worker, max_seconds=options["max_seconds"], progress=chain(tracker, bar))
            finally:
                bar.close()
            self.stdout.write(f"drained: {count} attempt(s)")
        elif action == "status":
            rows = OutboxEvent.objects.values("status").annotate(n=Count("id")).order_by("status")
            for row in rows:
                self.stdout.write(f"{row['status']}: {row['n']}")
        elif action == "replay":
            self.stdout.write(f"replayed: {outbox.replay(self._events(options['ids']))}")
        elif action == "discard":
            self.stdout.write(f"discarded: {outbox.discard(self._events(options['ids']), reason=options['reason'])}")

    def _events(self, ids):
        events = list(OutboxEvent.objects.filter(pk__in=ids))
        missing = set(ids) - {e.pk for e in events}
        if missing:
            raise CommandError(f"no outbox event with id {', '.join(map(str, sorted(missing)))}")
        return events
