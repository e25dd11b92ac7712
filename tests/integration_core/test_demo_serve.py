"""`make demo` serving: the queue worker runs next to the web server and qcluster, so a webhook is processed in
about a second, not at the next minute's schedule."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from integration.crypto import decrypt_json

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> list[str]:
    """Wait for `text` in the output; returns the lines so far (the list keeps growing: the pipe is drained)."""
    found = threading.Event()
    seen: list[str] = []

    def read():
        for line in proc.stdout:
            seen.append(line)
            if text in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        pytest.fail("".join(seen)[-3000:])
    return seen


@contextmanager
def served_demo(command: str, tmp_path: Path, *, ready: str = "Ctrl-C stops everything", timeout: float = 400):
    """Run `manage.py <command>` on its own SQLite file until it says it serves; yields (port, database file, the
    output so far); stopped with Ctrl-C afterwards, which must end it cleanly."""
    db_file = tmp_path / "demo.sqlite3"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="1", DEMO_DATABASE_URL=f"sqlite:///{db_file}", MEDIA_ROOT=str(tmp_path / "media"),
               PYTHONUNBUFFERED="1", Q_WORKERS="1")
    proc = subprocess.Popen([sys.executable, "manage.py", command, "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        yield port, db_file, wait_for_line(proc, ready, timeout=timeout)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0


@pytest.mark.sandbox
@pytest.mark.long
def test_demo_serves_with_the_queue_worker(tmp_path):
    with served_demo("demo", tmp_path, ready="amoerp demo is running") as (port, db_file, output):
        # The demo's pilot day: managers saving carts at once on one SQLite file, the worker writing meanwhile.
        errors = [line for line in output if "database is locked" in line or "Internal Server Error" in line]
        assert not errors, "".join(errors[:10])
        with sqlite3.connect(db_file) as db:
            secret = decrypt_json(db.execute(  # the demo inherits our AMOERP_ENCRYPTION_KEYS
                "select credentials from integration_backend where name = 'moysklad'").fetchone()[0])["webhook_secret"]
            product = db.execute("select erp_id from catalog_product where erp_id is not null limit 1").fetchone()[0]
        body = json.dumps({"events": [{"meta": {"type": "product", "href": f"https://x/entity/product/{product}"},
                                       "action": "UPDATE", "accountId": "demo"}]}).encode()
        deadline = time.monotonic() + 30
        while True:  # the web server may still be binding its port
            try:
                request = Request(f"http://127.0.0.1:{port}/hooks/moysklad/{secret}/?requestId=demo-1", data=body,
                                  headers={"Content-Type": "application/json"}, method="POST")
                with urlopen(request, timeout=5) as response:
                    assert response.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        stored = time.monotonic()
        status = None
        while time.monotonic() - stored < 5:
            with sqlite3.connect(db_file, timeout=30) as db:
                status = db.execute("select status from integration_inboxmessage where message_id = 'demo-1'").fetchone()
            if status and status[0] == "processed":
                break
            time.sleep(0.05)
        assert status and status[0] == "processed", status
        assert time.monotonic() - stored < 3  # the worker polls SQLite every 0.5 s; the schedule runs once a minute
