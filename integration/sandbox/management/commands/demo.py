"""`make demo`: one command from a fresh clone to a running platform with a demo company.

The sandbox emulators keep their data in memory, so every start rebuilds the demo from scratch: a fresh
SQLite database of its own (`var/demo.sqlite3`, or DEMO_DATABASE_URL; never DATABASE_URL's), the MoySklad
and amoCRM sandboxes seeded with the demo company, then the real syncs.
"""

import os
import secrets
import signal
import time
from pathlib import Path

import dj_database_url
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from integration.errors import IntegrationError
from integration.models import Backend
from integration.sandbox.process import SandboxProcess, start_sandbox

DEMO_USER = "admin"
DEMO_PASSWORD = "amoerp-demo"  # noqa: S105 - the documented demo login, printed on start
MOYSKLAD_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's documented default
AMO_CLIENT_ID = "0b0832f6-1d0a-4c71-9a50-4d7c5f1e2a11"
AMO_CLIENT_SECRET = "demo-client-secret-0123456789abcdef"  # noqa: S105 - sandbox-only integration secret
AMO_ACCOUNT_ID = 30441694
ERP_SYNCS = ("warehouses", "organization", "catalog", "prices", "stock")


class Command(BaseCommand):
    help = "Migrate, load the demo company, and serve admin + API + the queue worker + django-q2 until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, then exit")
        parser.add_argument("--pilot-days", type=int, default=int(os.environ.get("DEMO_PILOT_DAYS", "1")),
                            help="short fault-free simulated days played before serving (0: none)")

    def handle(self, *args, host, port, no_serve, pilot_days, **options):
        base = f"http://{host}:{port}"
        self.reset_database()
        self.step("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_demo_user()
        sandboxes = self.start_sandboxes(base)
        try:
            self.prepare(sandboxes, base)
            if no_serve:
                return
            self.serve(host, port, sandboxes, pilot_days)
        finally:
            for sandbox in sandboxes:
                sandbox.stop()

    def start_sandboxes(self, base: str) -> list[SandboxProcess]:
        self.step("Starting the MoySklad and amoCRM sandboxes with the demo company")
        moysklad = start_sandbox("moysklad", seed="demo")
        try:
            amocrm = self.start_amocrm(base)
        except BaseException:
            moysklad.stop()
            raise
        return [moysklad, amocrm]

    @staticmethod
    def start_amocrm(base: str) -> SandboxProcess:
        return start_sandbox("amocrm", seed="demo", options={
            "client_id": AMO_CLIENT_ID, "client_secret": AMO_CLIENT_SECRET,
            "redirect_uri": f"{base}/hooks/amocrm/oauth/", "account_id": AMO_ACCOUNT_ID})

    def prepare(self, sandboxes: list[SandboxProcess], base: str) -> tuple[Backend, Backend]:
        """Connect both backends, sync from MoySklad, load the counterparties, prepare amoCRM, schedule."""
        moysklad, amocrm = sandboxes
        erp = self.connect_moysklad(moysklad, base)
        crm = self.connect_amocrm(amocrm, base)
        self.step("Syncing the catalog, prices and stock from MoySklad")
        self.run_syncs(erp, ERP_SYNCS)
        self.step("Loading the demo counterparties")
        call_command("load_demo", stdout=self.stdout._out)
        self.step("Preparing the amoCRM account and pushing the catalog")
        self.prepare_amocrm(crm, base)
        call_command("setup_schedules", stdout=self.stdout._out)
        return Backend.objects.get(pk=erp.pk), Backend.objects.get(pk=crm.pk)

    def reset_database(self) -> None:
        """Switch this process (and the processes it starts) to the demo's own database, then empty it: the
        database DATABASE_URL names (production's) is never touched."""
        url = os.environ.get("DEMO_DATABASE_URL") or f"sqlite:///{Path(settings.BASE_DIR) / 'var' / 'demo.sqlite3'}"
        db = dj_database_url.parse(url, conn_max_age=0)
        if not db["ENGINE"].endswith("sqlite3"):
            raise CommandError(f"DEMO_DATABASE_URL: {url!r} is not a SQLite URL (the demo rebuilds its file on start)")
        db.setdefault("OPTIONS", {}).update(settings.AMOERP_SQLITE_OPTIONS)
        connections.close_all()
        merged = {**settings.DATABASES["default"], **db}  # keeps Django's filled-in defaults (TEST, ATOMIC_…)
        settings.DATABASES["default"].clear()
        settings.DATABASES["default"].update(merged)
        del connections["default"]
        os.environ["DATABASE_URL"] = url
        path = Path(db["NAME"])
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            stale.unlink(missing_ok=True)  # a WAL left behind would be replayed into the new file

    def connect_moysklad(self, sandbox: SandboxProcess, base: str) -> Backend:
        backend = Backend.objects.create(
            name="moysklad",
            kind=Backend.Kind.MOYSKLAD,
            base_url=f"{sandbox.url}/api/remap/1.2",
            credentials={"token": MOYSKLAD_TOKEN, "webhook_secret": secrets.token_urlsafe(24)},
        )
        return backend

    def connect_amocrm(self, sandbox: SandboxProcess, base: str) -> Backend:
        from integration.amocrm.tokens import exchange_code

        backend = Backend.objects.create(
            name="amocrm",
            kind=Backend.Kind.AMOCRM,
            base_url=sandbox.url,
            credentials={
                "client_id": AMO_CLIENT_ID,
                "client_secret": AMO_CLIENT_SECRET,
                "redirect_uri": f"{base}/hooks/amocrm/oauth/",
            },
            settings={"account_id": AMO_ACCOUNT_ID, "subdomain": "demo", "approvers": [1002]},
        )
        exchange_code(backend, sandbox.control("amocrm/oauth/code", {})["code"])
        return backend

    def run_syncs(self, backend: Backend, kinds) -> None:
        from integration.syncs import run_sync

        for kind in kinds:
            run = run_sync(kind, backend, full=True)
            self.stdout.write(f"    {kind}: {run.get_status_display()} {self.counts(run)}")

    def prepare_amocrm(self, backend: Backend, base: str) -> None:
        from integration.amocrm.setup import prepare_account
        from integration.erp.moysklad.setup import subscribe_webhooks

        prepare_account(backend, public_url=base)
        subscribe_webhooks(Backend.objects.get(name="moysklad"), public_url=base)
        self.run_syncs(Backend.objects.get(pk=backend.pk), ("crm_catalog",))

    @staticmethod
    def counts(run) -> str:
        fields = ("created", "updated", "unchanged", "skipped", "failed")
        return ", ".join(f"{name} {getattr(run, name, 0)}" for name in fields if getattr(run, name, 0))

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def ensure_demo_user(self) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()

    def serve(self, host: str, port: int, sandboxes: list[SandboxProcess], pilot_days: int) -> None:
        from integration.pilot.world import Platform

        platform = Platform(host, port, web="runserver", quiet=False)
        try:
            platform.start_all(queue_workers=1)
            self.warm_up(platform, sandboxes, pilot_days)
            self.wait_for_ctrl_c(platform, sandboxes)
        finally:
            platform.stop()

    def warm_up(self, platform, sandboxes: list[SandboxProcess], pilot_days: int) -> None:
        """What runs once the platform serves, before the demo is handed over."""
        if pilot_days:
            self.play_pilot(platform, sandboxes, pilot_days)

    def play_pilot(self, platform, sandboxes: list[SandboxProcess], days: int) -> None:
        """A short fault-free pilot, so the dashboard, journal and KPIs show real trading, not empty panels."""
        from integration.pilot.run import Options, run_pilot
        from integration.pilot.world import World

        self.step(f"Playing {days} simulated day(s) of trading (manage.py simulate_pilot, no faults)")
        world = World(platform=platform, ms=sandboxes[0], amo=sandboxes[1],
                      erp=Backend.objects.get(name="moysklad"), crm=Backend.objects.get(name="amocrm"))
        try:
            report = run_pilot(Options(days=days, managers=4, deals_per_day=10, faults="none", day_seconds=15,
                                       settle_seconds=20),
                               out=self.stdout._out, world=world)
        except IntegrationError as exc:  # e.g. the audit's reconciliation hit amoCRM's rate limit: serve anyway
            self.stdout.write(self.style.WARNING(f"    the demo's pilot audit stopped: {exc}; serving what was played"))
            return
        self.stdout.write(report.as_text())

    def more_to_see(self) -> str:
        """Lines a variant of the demo adds to what it prints when it is running."""
        return ""

    def wait_for_ctrl_c(self, platform, sandboxes: list[SandboxProcess]) -> None:
        stop = False

        def on_signal(signum, frame):
            nonlocal stop
            stop = True

        # Before saying it runs: a Ctrl-C right after the message stops it cleanly, not with a traceback.
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        base = platform.base
        amocrm = next(s for s in sandboxes if s.name == "amocrm")
        self.stdout.write(
            self.style.SUCCESS(
                "\namoerp demo is running:\n"
                f"  admin        {base}/admin/   login: {DEMO_USER} / {DEMO_PASSWORD}\n"
                f"  API docs     {base}/api/docs/\n"
                f"  API schema   {base}/api/schema/\n"
                f"  widget API   {base}/api/widget/v1/products?q=кабель  (header X-Auth-Token)\n"
                f"  widget demo  {base}/widget-demo/   the amoCRM deal card with the widget (?user=1002: approver)\n"
                "  queue        queue_worker: outbox and inbox, continuously\n"
                "  schedules    django-q2 cluster (ORM broker)\n"
                + "".join(f"  sandbox      {s.name}: {s.url}\n" for s in sandboxes)
                + "  widget tokens are single-use (jti); mint one as amoCRM would:\n"
                f"    curl -s -X POST {amocrm.url}/_control/amocrm/widget_token -d '{{\"user_id\": 1001}}'\n"
                + self.more_to_see()
                + "Ctrl-C stops everything.\n"
            )
        )
        try:
            while not stop and all(child.poll() is None for child in platform.processes.values()):
                time.sleep(0.5)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
