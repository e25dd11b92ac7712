import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from integration.models import Backend

from .receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_journal_from_other_tests(request):
    """Journal entries are written on a side connection that commits outside the test transaction, so
    other test modules leave rows behind; these tests count entries and start from an empty journal."""
    if "db" in request.fixturenames or "transactional_db" in request.fixturenames:
        from integration.models import JournalEntry

        JournalEntry.objects.all().delete()


@pytest.fixture
def backend(db):
    return Backend.objects.create(
        name="erp",
        kind=Backend.Kind.MOYSKLAD,
        base_url="https://api.example.test/",
        credentials={"token": "tok-SECRET-0123456789", "password": "pa55word-xyz"},
        settings={"allowed_hosts": [".127.0.0.1"]},  # the receiver (a stand-in remote) listens there
    )


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(settings):
    settings.AMOERP = {
        **settings.AMOERP,
        "OUTBOX_MAX_ATTEMPTS": 3,
        "OUTBOX_BACKOFF_BASE": 0.05,
        "OUTBOX_BACKOFF_CAP": 1.0,
        "OUTBOX_LEASE_SECONDS": 60,
    }
    return settings


def database_url() -> str:
    """The test database (pytest-django renamed it) as a DATABASE_URL for child processes."""
    db = settings.DATABASES["default"]
    name = connection.settings_dict["NAME"]
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{db.get('PORT') or 5432}/{name}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_SETTINGS_MODULE="config.settings_test",
        AMOERP_OUTBOX_HANDLER_MODULES="tests.integration_core.receiver_handlers",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Children:
    """Processes started by a test; every one is stopped at teardown."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def manage(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def children():
    group = Children()
    yield group
    group.stop_all()
