"""Live progress of long work: recorded cheaply while a real sync runs on the MoySklad sandbox, read over HTTP
as the admin's bar reads it, and shown by `manage.py sync` on a terminal and in a log."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from catalog.models import Product
from integration.models import Progress, SyncRun
from integration.progress import tracked
from integration.syncs import run_sync
from tests.integration_core.conftest import child_env

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def every_write(settings):
    settings.AMOERP = {**settings.AMOERP, "PROGRESS_WRITE_SECONDS": 0}


def _sandbox_catalog_size(moysklad) -> int:
    return sum(len(moysklad.control(f"moysklad/entities/{kind}", method="GET")) for kind in ("product", "service", "bundle"))


@pytest.mark.django_db
def test_progress_is_written_a_few_times_a_second_not_once_a_record(django_assert_max_num_queries):
    with tracked(Progress.Operation.REPLAY, "replay", total=10_000) as tracker:
        with django_assert_max_num_queries(1):
            for done in range(1, 10_001):
                tracker(done)
    record = Progress.objects.get()
    assert (record.status, record.done, record.total) == ("succeeded", 10_000, 10_000)
    assert 1 <= len(record.timeline) <= 3


@pytest.mark.django_db(transaction=True)
def test_progress_of_a_sync_on_the_sandbox_is_monotonic_and_ends_at_the_total(erp, moysklad, http, every_write):
    expected = _sandbox_catalog_size(moysklad)
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("run", run_sync("catalog", erp, full=True)))
    worker.start()
    seen: list[dict] = []
    deadline = time.monotonic() + 120
    record_id = None
    while time.monotonic() < deadline:
        if record_id is None:
            record_id = Progress.objects.filter(operation="sync").values_list("pk", flat=True).first()
            continue
        response = http.get(f"{http.base}/admin/staff/progress/{record_id}.json")
        assert response.status_code == 200, response.text[:300]
        seen.append(response.json())
        if seen[-1]["status"] != "running":
            break
        time.sleep(0.02)
    worker.join(timeout=60)
    run = outcome["run"]
    assert run.status == SyncRun.Status.SUCCEEDED, run.error

    done = [point["done"] for point in seen]
    assert done == sorted(done), done
    assert len(set(done)) >= 3, f"too few distinct values seen while running: {done}"
    last = seen[-1]
    assert (last["status"], last["done"], last["total"], last["percent"]) == ("succeeded", expected, expected, 100.0)
    assert last["eta"] is None and last["elapsed"] > 0 and last["rate"] > 0 and last["errors"] == 0
    running = [point for point in seen if point["status"] == "running" and point["total"]]
    assert running and all(point["eta"] is not None for point in running)
    assert {point["step"] for point in seen} >= {"products", "bundles"}
    assert Product.objects.count() == expected

    kept = http.get(f"{http.base}/admin/staff/progress/{record_id}.json?timeline=1").json()["timeline"]
    assert kept[-1]["done"] == expected and [s["done"] for s in kept] == sorted(s["done"] for s in kept)
    page = http.get(f"{http.base}/admin/staff/progress/{record_id}/").text
    assert 'id="progress-timeline"' in page and "<svg" in page and "bundles" in page


def _sync_command(erp, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "sync", "catalog", "--backend", erp.name, "--full"],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=stderr,
    )


@pytest.mark.django_db(transaction=True)
def test_sync_command_shows_plain_lines_when_not_on_a_terminal(erp, moysklad):
    expected = _sandbox_catalog_size(moysklad)
    proc = _sync_command(erp, subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    lines = err.decode().splitlines()
    assert lines[-1].startswith(f"catalog/moysklad: {expected}/{expected} (100%)"), lines
    assert "\r" not in err.decode() and "\x1b" not in err.decode()
    assert b"catalog/moysklad: succeeded" in out


@pytest.mark.django_db(transaction=True)
def test_sync_command_shows_a_bar_on_a_terminal(erp, moysklad):
    expected = _sandbox_catalog_size(moysklad)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = _sync_command(erp, slave)
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    proc.wait(timeout=60)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "\r" in text and f"{expected}/{expected}" in text and "100%" in text and "|" in text, text


@pytest.mark.django_db
def test_the_nightly_purge_forgets_old_finished_progress_and_keeps_the_rest():
    from datetime import timedelta

    from django.utils import timezone

    from integration.retention import purge

    long_ago = timezone.now() - timedelta(days=91)
    Progress.objects.create(operation="reconcile", label="old", status="succeeded", finished_at=long_ago)
    recent = Progress.objects.create(operation="reconcile", label="recent", status="succeeded",
                                     finished_at=timezone.now())
    running = Progress.objects.create(operation="drain", label="running", started_at=long_ago)
    report = purge()
    assert report.deleted["progress"] == 1
    assert set(Progress.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}


@pytest.mark.django_db(transaction=True)
def test_a_reconciliation_records_its_progress_with_its_steps(erp, every_write):
    from integration.reconciliation.runs import reconcile_and_store

    run_sync("catalog", erp, full=True)
    run, report = reconcile_and_store(backend=erp)
    record = Progress.objects.get(operation="reconcile")
    assert (record.status, record.reference) == ("succeeded", f"reconcile:{run.pk}")
    assert record.done == sum(report.checked.values()) > 0 and record.total == record.done
    steps = [sample["step"] for sample in record.timeline]
    assert steps[0].startswith("moysklad: ") and len(set(steps)) >= 2
    done = [sample["done"] for sample in record.timeline]
    assert done == sorted(done)
