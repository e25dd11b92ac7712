"""manage.py queue_worker [--worker NAME] [--poll S] [--limit N] [--queues outbox,inbox] [--handlers MOD,...]

The process that delivers the outbox and processes the inbox continuously; run it next to `qcluster` (one or
more per deployment). SIGTERM/SIGINT stop it after the batch in hand.
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integration.relay import default_worker_id
from integration.wakeup import QUEUES
from integration.worker import run_worker


class Command(BaseCommand):
    help = "Deliver the outbox and process the inbox continuously (woken by NOTIFY on PostgreSQL, else polling)."

    def add_arguments(self, parser):
        parser.add_argument("--worker", default="", help="Worker name recorded in leases and attempts.")
        parser.add_argument("--poll", type=float, default=0.5,
                            help="Longest idle wait in seconds before looking again (NOTIFY wakes earlier).")
        parser.add_argument("--limit", type=int, default=50, help="Events or messages claimed per batch.")
        parser.add_argument("--queues", default=",".join(QUEUES), help="Which queues: outbox, inbox or both.")
        parser.add_argument("--handlers", default="", help="Extra handler modules to import, comma-separated.")
        parser.add_argument("--lease", type=float, default=None,
                            help="Lease seconds of both queues (default OUTBOX_LEASE_SECONDS / INBOX_LEASE_SECONDS).")

    def handle(self, *args, worker, poll, limit, queues, handlers, lease, **options):
        chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
        unknown = set(chosen) - set(QUEUES)
        if unknown or not chosen:
            raise CommandError(f"--queues: choose from {', '.join(QUEUES)}")
        if lease:
            settings.AMOERP = {**settings.AMOERP, "OUTBOX_LEASE_SECONDS": lease, "INBOX_LEASE_SECONDS": lease}
        name = worker or default_worker_id()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        def ready():
            self.stdout.write(f"queue worker {name}: running ({', '.join(chosen)})")
            self.stdout.flush()

        stats = run_worker(name, stop=stop, poll=poll, limit=limit, queues=chosen,
                           handler_modules=tuple(m for m in handlers.split(",") if m), on_ready=ready)
        done = ", ".join(f"{queue} {count}" for queue, count in stats.handled.items())
        self.stdout.write(f"queue worker {name}: stopped after {done}")
