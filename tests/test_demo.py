"""`make demo`'s preparation from nothing: sandboxes seeded, real syncs, counterparties, amoCRM catalog."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.sandbox
def test_demo_prepares_a_working_company_from_an_empty_database(tmp_path):
    db_file = tmp_path / "demo.sqlite3"
    production = tmp_path / "production.sqlite3"  # the database DATABASE_URL names: the demo must leave it alone
    with sqlite3.connect(production) as db:
        db.execute("create table company_books (id integer)")
    before = production.read_bytes()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{production}", DEMO_DATABASE_URL=f"sqlite:///{db_file}",
               MEDIA_ROOT=str(tmp_path / "media"))
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert production.read_bytes() == before
    with sqlite3.connect(db_file) as db:
        count = lambda table: db.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: E731
        assert count("catalog_product") >= 300
        assert count("catalog_warehouse") == 3
        assert count("catalog_pricelist") == 3
        assert count("catalog_stocklevel") > 0
        assert count("counterparties_counterparty") == 52
        # our organization's requisites come from the sandbox ERP (its own organization, with a bank account)
        assert db.execute("select inn, account from documents_ourorganization where source = 'erp'").fetchall() == [
            ("7701234560", "40702810200000012345")]
        assert count("auth_user") == 1
        # Products came through the MoySklad sync and were pushed to amoCRM: both bindings exist.
        kinds = dict(db.execute(
            "select b.kind, count(*) from integration_binding x join integration_backend b on b.id = x.backend_id "
            "group by b.kind"
        ).fetchall())
        assert kinds.get("moysklad", 0) >= 300 and kinds.get("amocrm", 0) >= 300
        assert count("django_q_schedule") >= 4
