"""`make demo`: one command from a fresh clone to a running platform with a demo company."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_USER = "admin"
DEMO_PASSWORD = "amoerp-demo"  # noqa: S105 - the documented demo login, printed on start


class Command(BaseCommand):
    help = "Migrate, load the demo company, and serve admin + API + a django-q2 worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, then exit")

    def handle(self, *args, host, port, no_serve, **options):
        Path(settings.BASE_DIR, "var").mkdir(exist_ok=True)
        self.step("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_demo_user()
        self.step("Loading the demo company")
        call_command("load_demo")
        if no_serve:
            return
        self.serve(host, port)

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def ensure_demo_user(self) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()

    def serve(self, host: str, port: int) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        children = [
            subprocess.Popen([sys.executable, manage, "runserver", f"{host}:{port}", "--noreload"]),
            subprocess.Popen([sys.executable, manage, "qcluster"]),
        ]
        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                "\namoerp demo is running:\n"
                f"  admin        {base}/admin/   login: {DEMO_USER} / {DEMO_PASSWORD}\n"
                f"  API docs     {base}/api/docs/\n"
                f"  API schema   {base}/api/schema/\n"
                "  worker       django-q2 cluster (ORM broker)\n"
                "Ctrl-C stops everything.\n"
            )
        )
        stop = False

        def on_signal(signum, frame):
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stop and all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
