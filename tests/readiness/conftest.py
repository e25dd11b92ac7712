"""Fixtures of the readiness tests: both sandboxes (real processes, shared with the reconciliation tests' setup),
connected and prepared, our organization and the schedules in place."""

import pytest

from documents.models import OurOrganization
from integration.erp.moysklad.setup import subscribe_webhooks
from integration.schedules import setup_schedules
from tests.erp.conftest import backend, ms, ms_sandbox  # noqa: F401 - fixtures
from tests.reconciliation.conftest import DEAD_URL, amo, amo_process  # noqa: F401 - fixtures


def our_organization(**extra) -> OurOrganization:
    values = {"name": "ООО Наша", "inn": "7707083893", "kpp": "773601001", "bank_name": "ПАО Банк",
              "bik": "044525225", "account": "40702810900000000001", **extra}
    return OurOrganization.objects.create(source=OurOrganization.Source.STAFF, **values)


@pytest.fixture
def launched(backend, amo):  # noqa: F811 - fixtures
    """Everything the platform needs to go live."""
    subscribe_webhooks(backend, public_url=DEAD_URL)
    setup_schedules()
    our_organization()
    return amo
