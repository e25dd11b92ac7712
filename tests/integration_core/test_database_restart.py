"""PostgreSQL taken away under the running web server (an upgrade, a failover, a restart): the connections
gunicorn keeps are dead. While the database is away the API and the webhooks answer 503 with Retry-After (the
sender retries, the manager is told to wait) — never a 500 with a stack trace; once it is back, the very next
requests work."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.db import connections

from tests.integration_core.conftest import ROOT, child_env

pytestmark = [
    pytest.mark.exclusive,  # every other test's connections would go with the database
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("AMOERP_TEST_PG_CTL"), reason="needs tests/with_postgres.sh's cluster"),
]


def pg_ctl(action: str) -> None:
    subprocess.run([os.environ["AMOERP_TEST_PG_CTL"], action], check=True, timeout=120)
    connections.close_all()  # this process's own connection went with the database


@pytest.fixture
def web():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "2",
         "--log-level", "warning"],
        cwd=ROOT, env=child_env(DB_CONN_MAX_AGE="600"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/admin/login/", timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def hit(base: str) -> list[int]:
    """Requests that read the database: a webhook with an unknown secret, the staff API with a stale session."""
    return [
        requests.post(f"{base}/hooks/moysklad/no-such-secret/", json={"events": []}, timeout=10).status_code,
        api(base).status_code,
    ]


def api(base: str) -> requests.Response:
    return requests.get(f"{base}/api/v1/counterparties/", cookies={"sessionid": "s" * 32}, timeout=30)


def test_the_requests_after_a_database_restart_work(web):
    before = [hit(web) for _ in range(6)]  # every worker thread holds a connection now
    pg_ctl("restart")
    after = [hit(web) for _ in range(6)]
    assert after == before and 500 not in sum(after, [])


def test_while_the_database_is_away_the_api_and_webhooks_answer_503_with_retry_after(web):
    hit(web)
    pg_ctl("stop")
    try:
        webhook = requests.post(f"{web}/hooks/moysklad/no-such-secret/", json={"events": []}, timeout=30)
        staff_api = api(web)
    finally:
        pg_ctl("start")
    for answer in (webhook, staff_api):
        assert answer.status_code == 503, answer.text[:500]
        assert answer.headers["Retry-After"].isdigit()
        assert "Traceback" not in answer.text and "OperationalError" not in answer.text
    assert staff_api.json()["detail"]


def test_long_work_goes_on_when_its_progress_cannot_be_written_for_a_moment():
    """The pilot's managers report progress while PostgreSQL restarts: a lost report must not stop the work."""
    from integration.models import Progress
    from integration.progress import tracked

    with tracked(Progress.Operation.PILOT, "rehearsal") as tracker:
        tracker.update(done=1)
        pg_ctl("stop")
        try:
            tracker.flush()  # not written, and no error for the work
        finally:
            pg_ctl("start")
        tracker.update(done=5)
        tracker.flush()
    assert Progress.objects.get(pk=tracker.record.pk).done == 5


def test_progress_is_written_again_once_the_database_is_back():
    """The connection the progress writes on died with the restart: the next write reconnects, rather than every
    report of the rest of the run failing on the dead connection."""
    from integration.models import Progress
    from integration.progress import tracked

    with tracked(Progress.Operation.PILOT, "rehearsal") as tracker:
        tracker.update(done=1)
        tracker.flush()
        subprocess.run([os.environ["AMOERP_TEST_PG_CTL"], "restart"], check=True, timeout=120)  # this process not told
        tracker.update(done=2)
        tracker.flush()  # finds the connection dead
        tracker.update(done=3)
        tracker.flush()
        connections.close_all()
        assert Progress.objects.get(pk=tracker.record.pk).done == 3
