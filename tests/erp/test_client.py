"""The MoySklad client under the real limits: 429 answered by waiting X-Lognex-Retry-After, 5xx retried
for reads, 4xx permanent with MoySklad's error text."""

import threading

import pytest
from django.db import connection

from integration.erp.moysklad.client import MoySkladClient
from integration.errors import PermanentError, RetryableError
from integration.models import Backend

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_processes_worth_of_heavy_reports_recover_from_429(backend, ms):
    # A second backend row = a second limiter: like another worker process sharing the account.
    other = Backend.objects.create(
        name="moysklad-2",
        kind=backend.kind,
        base_url=backend.base_url,
        credentials=backend.credentials,
        settings=backend.settings,
    )
    failures = []

    def heavy(b):
        try:
            client = MoySkladClient(b)
            for _ in range(6):
                client.get("report/stock/all", {"limit": 1})
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=heavy, args=(b,)) for b in (backend, other, backend, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    statuses = ms.control("stats", method="GET")["statuses"]
    assert statuses.get("429", 0) > 0 and statuses["200"] >= 24


def test_errors_are_typed(backend, ms):
    client = MoySkladClient(backend)
    with pytest.raises(PermanentError, match="limit") as info:
        client.get("entity/product", {"limit": 5000})
    assert info.value.status == 400
    ms.set_faults(error_rate=1.0, error_status=502)
    with pytest.raises(RetryableError, match="HTTP 502 after 2 attempt"):
        client.get("entity/store")
    ms.set_faults(error_rate=0.0, drop_responses=1)
    with pytest.raises(RetryableError):  # a create without syncId is not repeated blindly
        client.post("entity/counterparty", {"name": "ООО «Тест»"})
    assert client.get("entity/counterparty", {"filter": "name=ООО «Тест»"})["meta"]["size"] == 1
