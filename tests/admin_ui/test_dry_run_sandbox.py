"""The dry run of the first sync of a new company, against the MoySklad emulator over real HTTP."""

import pytest
from django.urls import reverse

from catalog.models import Product
from integration.models import Backend, SyncRun
from integration.sandbox.process import start_sandbox

from .conftest import PASSWORD

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


@pytest.fixture(scope="module")
def moysklad():
    sandbox = start_sandbox("moysklad", seed="demo")
    yield sandbox
    sandbox.stop()


def test_dry_run_of_the_catalog_shows_what_would_come_and_writes_nothing(client, operator, moysklad):
    erp = Backend.objects.create(
        name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url=moysklad.url + "/api/remap/1.2",
        credentials={"token": "sandbox-token"}, settings={"backoff_seconds": 0.05, "read_attempts": 2},
    )
    assert client.login(username=operator.username, password=PASSWORD)
    url = reverse("staff:backend-dry-run", args=[erp.pk])
    assert 'value="catalog"' in client.get(url).content.decode()

    page = client.post(url, {"kind": "catalog", "full": "on"}).content.decode()

    run = SyncRun.objects.get(backend=erp, kind="catalog")
    assert run.dry_run and run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.created > 0 and 'id="dry-run-result"' in page and f">{run.created}<" in page
    assert not Product.objects.exists()
    erp.refresh_from_db()
    assert not erp.cursors.get("catalog")
