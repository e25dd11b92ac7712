"""`make demo ERP=cml`: from nothing to a served platform whose catalog came by 1C's CommerceML exchange over HTTP,
pushed to amoCRM, with the exchange URL printed for the next exchange."""

import sqlite3

import pytest

from tests.integration_core.test_demo_serve import served_demo


@pytest.mark.sandbox
def test_demo_with_the_commerceml_exchange_serves_what_1c_sent(tmp_path):
    with served_demo("demo_cml", tmp_path, timeout=300) as (port, db_file, lines):
        output = "".join(lines)
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
