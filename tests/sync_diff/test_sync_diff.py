"""The dry run's per-record diff against the MoySklad sandbox writes nothing and equals what the real run then
writes (compared entry by entry), for the catalog and the counterparties."""

import json

import pytest

from catalog.models import Price, Product
from counterparties.models import Counterparty
from integration.models import SyncRun
from integration.staff.sync_diff import dry_run_with_diff, real_run_with_diff

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def canonical(entries: list[dict]) -> list[str]:
    return sorted(json.dumps(entry, ensure_ascii=False, sort_keys=True) for entry in entries)


def test_the_catalog_dry_run_diff_equals_what_the_real_run_writes(backend):
    dry = dry_run_with_diff("catalog", backend, full=True)

    assert not Product.objects.exists() and not Price.objects.exists()  # nothing was written
    assert dry.run.dry_run and dry.run.status == SyncRun.Status.SUCCEEDED and dry.run.created > 0
    stored = SyncRun.objects.get(pk=dry.run.pk).details
    assert stored["diff_total"] == len(dry.entries) and stored["diff"][0] == dry.entries[0]
    created = [e for e in dry.entries if e["model"] == "catalog.Product" and e["action"] == "create"]
    assert created and all(e["changes"]["article"][0] is None for e in created)

    real = real_run_with_diff("catalog", backend, full=True)

    assert Product.objects.count() == len(created)
    assert canonical(real.entries) == canonical(dry.entries)
    assert SyncRun.objects.get(pk=real.run.pk).details["diff_total"] == len(real.entries)


def test_an_update_shows_the_value_before_and_after_and_matches_the_real_run(backend, ms):
    real_run_with_diff("catalog", backend, full=True)
    product = Product.objects.filter(erp_id__isnull=False, kind="goods").order_by("article").first()
    ms.control("moysklad/product", {"id": product.erp_id, "name": "Новое название"})  # renamed in the ERP

    dry = dry_run_with_diff("catalog", backend, full=True)
    assert Product.objects.get(pk=product.pk).name == product.name  # not yet
    real = real_run_with_diff("catalog", backend, full=True)

    mine = [e for e in dry.entries if e["model"] == "catalog.Product" and e["external_id"] == product.erp_id]
    assert mine and mine[0]["action"] == "update" and mine[0]["changes"]["name"] == [product.name, "Новое название"]
    assert canonical(real.entries) == canonical(dry.entries)


def test_the_counterparties_dry_run_diff_equals_the_real_run(backend):
    dry = dry_run_with_diff("counterparties", backend, full=True)
    assert not Counterparty.objects.exists() and dry.entries
    real = real_run_with_diff("counterparties", backend, full=True)
    assert canonical(real.entries) == canonical(dry.entries)


def test_an_operator_may_dry_run_but_not_run_for_real_and_an_auditor_neither(client, backend):
    from django.urls import reverse

    from integration.staff.groups import AUDITOR_GROUP, OPERATOR_GROUP
    from tests.admin_ui.conftest import PASSWORD, make_user

    url = reverse("staff:backend-sync-diff", args=[backend.pk])
    auditor = make_user("auditor1", AUDITOR_GROUP)
    assert client.login(username=auditor.username, password=PASSWORD)
    assert client.get(url).status_code == 403
    operator = make_user("operator1", OPERATOR_GROUP)
    assert client.login(username=operator.username, password=PASSWORD)

    assert client.post(url, {"kind": "prices", "real": "1", "full": "on"}).status_code == 403
    dry = client.post(url, {"kind": "prices", "real": "0", "full": "on"})

    run = SyncRun.objects.get(kind="prices")
    assert dry.status_code == 302 and dry["Location"].endswith(f"?run={run.pk}") and run.dry_run
    page = client.get(dry["Location"]).content.decode()
    assert 'id="sync-diff-result"' in page and 'id="sync-diff-real"' not in page
    assert not Price.objects.exists()
