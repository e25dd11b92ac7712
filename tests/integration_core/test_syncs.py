"""Sync runs (one at a time per backend and kind, abandoned runs recovered), the registry and `manage.py sync`."""

import io
import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from integration import syncs
from integration.errors import SyncAlreadyRunning
from integration.models import SyncRun
from integration.syncruns import sync_run

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@syncs.register("test_kind", backend_kinds=("moysklad",))
def sync_test_kind(backend, *, full, dry_run, progress=None):
    with sync_run(backend, "test_kind", full=full, dry_run=dry_run) as run:
        for done in range(1, 6):
            run.add(created=1 if done <= 2 else 0, unchanged=1 if done > 2 else 0)
            if progress:
                progress(done, 5)
        run.note("cursor", "2026-11-28T00:00:00")
    return run


def test_a_run_cannot_start_twice(backend):
    with sync_run(backend, "catalog") as first:
        with pytest.raises(SyncAlreadyRunning) as err:
            with sync_run(backend, "catalog"):
                pass
        assert err.value.run_id == first.pk
        with sync_run(backend, "prices"):  # another kind may run
            pass
    first.refresh_from_db()
    assert first.status == "succeeded" and first.finished_at is not None
    with sync_run(backend, "catalog"):  # and again once finished
        pass


def test_the_database_refuses_a_second_running_row(backend):
    from django.db import IntegrityError, transaction

    SyncRun.objects.create(backend=backend, kind="stock")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(backend=backend, kind="stock")


def test_failure_marks_the_run_failed_and_propagates(backend):
    with pytest.raises(ZeroDivisionError), sync_run(backend, "stock") as run:
        run.add(updated=3)
        1 / 0  # noqa: B018
    run.refresh_from_db()
    assert run.status == "failed" and "ZeroDivisionError" in run.error and run.updated == 3


def test_runs_of_dead_processes_and_stale_heartbeats_are_recovered(backend):
    elsewhere = SyncRun.objects.create(backend=backend, kind="stock", host="other-host", pid=1)
    with pytest.raises(SyncAlreadyRunning):  # alive elsewhere, fresh heartbeat
        with sync_run(backend, "stock"):
            pass
    SyncRun.objects.filter(pk=elsewhere.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with sync_run(backend, "stock"):
        pass
    elsewhere.refresh_from_db()
    assert elsewhere.status == "failed" and "abandoned" in elsewhere.error

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    SyncRun.objects.create(backend=backend, kind="orders", host=socket.gethostname(), pid=gone.pid)
    with sync_run(backend, "orders") as run:  # killed process on this host: recovered at once
        assert run.pid == os.getpid()


def test_manage_sync_runs_the_registered_sync_with_a_progress_bar(backend):
    out, err = io.StringIO(), io.StringIO()
    call_command("sync", "test_kind", "--backend", "erp", "--full", stdout=out, stderr=err)
    run = SyncRun.objects.get(kind="test_kind")
    assert (run.status, run.trigger, run.full, run.created, run.unchanged) == ("succeeded", "manual", True, 2, 3)
    assert run.details == {"cursor": "2026-11-28T00:00:00"}
    assert "created 2" in out.getvalue()
    assert err.getvalue().splitlines()[-1].startswith("test_kind/erp: 5/5 (100%)")


def test_manage_sync_errors_are_clear(backend):
    with pytest.raises(CommandError, match="no backend named 'nope'"):
        call_command("sync", "test_kind", "--backend", "nope")
    with pytest.raises(CommandError, match="no sync 'unknown'"):
        call_command("sync", "unknown", "--backend", "erp")
    backend.paused = True
    backend.save()
    with pytest.raises(CommandError, match="paused"):
        call_command("sync", "test_kind", "--backend", "erp", stderr=io.StringIO())


def test_scheduled_runs_skip_paused_backends_and_record_the_trigger(backend):
    from integration.models import Backend

    Backend.objects.create(name="amo", kind="amocrm", base_url="https://amo.test/")  # has no test_kind sync
    held = Backend.objects.create(name="erp2", kind="moysklad", base_url="https://erp2.test/", paused=True)
    outcome = syncs.run_scheduled("test_kind")
    assert set(outcome) == {"erp", held.name}
    assert outcome[held.name].startswith("skipped") and "paused" in outcome[held.name]
    assert SyncRun.objects.get(kind="test_kind").trigger == "schedule"


def test_heartbeat_keeps_a_busy_run_alive(backend, settings):
    import time

    settings.AMOERP = {**settings.AMOERP, "SYNC_STALE_SECONDS": 0.4}  # heartbeat every 0.1 s
    with sync_run(backend, "stock"):
        time.sleep(0.7)  # one long call, no run.add(): the heartbeat thread keeps the run alive
        with pytest.raises(SyncAlreadyRunning):
            with sync_run(backend, "stock"):
                pass
