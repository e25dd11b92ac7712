"""`make demo ERP=1c`'s preparation from nothing: the 1C sandbox, the connection check, syncs, amoCRM catalog."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.sandbox
def test_demo_against_1c_prepares_a_working_company(tmp_path):
    db_file = tmp_path / "demo.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="1", DEMO_DATABASE_URL=f"sqlite:///{db_file}", MEDIA_ROOT=str(tmp_path / "media"))
    result = subprocess.run([sys.executable, "manage.py", "demo_onec", "--no-serve"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1C connection: ok, УТ 11" in result.stdout
    with sqlite3.connect(db_file) as db:
        count = lambda table: db.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: E731
        assert count("catalog_product") >= 300 and count("catalog_stocklevel") > 0
        assert db.execute("select kind, settings from integration_backend where name = 'onec'").fetchone()[0] == \
            "onec_odata"
        # our organization's requisites come from 1C (Catalog_Организации with its bank account)
        assert db.execute("select inn, account from documents_ourorganization where source = 'erp'").fetchall() == [
            ("7701234560", "40702810200000012345")]
        kinds = dict(db.execute(
            "select b.kind, count(*) from integration_binding x join integration_backend b on b.id = x.backend_id "
            "group by b.kind").fetchall())
        # Products came through the 1C sync (the ERP core's importers) and were pushed to amoCRM.
        assert kinds.get("onec_odata", 0) >= 300 and kinds.get("amocrm", 0) >= 300
