"""`make demo ERP=cml`: from nothing to a served platform whose catalog came by 1C's CommerceML exchange over HTTP,
pushed to amoCRM, with the exchange URL printed for the next exchange."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration_core.test_demo_serve import free_port, wait_for_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.sandbox
def test_demo_with_the_commerceml_exchange_serves_what_1c_sent(tmp_path):
    db_file = tmp_path / "demo.sqlite3"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="1", DEMO_DATABASE_URL=f"sqlite:///{db_file}", MEDIA_ROOT=str(tmp_path / "media"),
               PYTHONUNBUFFERED="1", Q_WORKERS="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "demo_cml", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = "".join(wait_for_line(proc, "Ctrl-C stops everything", timeout=300))
        assert "imports: " in output and "success" in output.split("imports: ")[1].splitlines()[0], output[-3000:]
        assert f"http://127.0.0.1:{port}/exchange/1c/" in output and "integration.sandbox.commerceml.client" in output
        with sqlite3.connect(db_file, timeout=30) as db:
            runs = db.execute("select kind, status, trigger from integration_syncrun where kind in ('catalog', 'stock')"
                              " order by id").fetchall()
            assert runs == [("catalog", "succeeded", "webhook"), ("stock", "succeeded", "webhook")]
            kinds = dict(db.execute(
                "select b.kind, count(*) from integration_binding x join integration_backend b on b.id = x.backend_id"
                " group by b.kind").fetchall())
            assert kinds.get("onec_cml", 0) >= 5 and kinds.get("amocrm", 0) >= 5  # 1C's products, pushed to amoCRM
            assert db.execute("select count(*) from catalog_stocklevel where on_hand > 0").fetchone()[0] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
