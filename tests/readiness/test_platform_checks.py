"""The platform's own checks against both sandboxes over real HTTP: each passes on a prepared installation and
fails on the broken one next to it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from documents.models import OurOrganization
from integration.amocrm.client import AmoCrmClient
from integration.models import Backend
from integration.staff.readiness import FAIL, PASS, run_readiness

from .conftest import our_organization

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]
PLATFORM = ["backends", "tokens", "webhooks", "schedules", "stages", "organization"]


def marks() -> dict[str, tuple[str, list[str]]]:
    return {r.code: (r.status, [o.problem for o in r.offenders]) for r in run_readiness(codes=PLATFORM, store=False)}


def test_a_prepared_installation_passes_every_platform_check(launched):
    assert {code: status for code, (status, _problems) in marks().items()} == dict.fromkeys(PLATFORM, PASS)


def test_nothing_configured_fails_backends_schedules_and_organization(db):
    found = marks()
    assert found["backends"][0] == FAIL and len(found["backends"][1]) == 2
    assert found["schedules"][0] == FAIL and found["organization"][0] == FAIL
    assert "Our organization" in found["organization"][1][0]


def test_a_refused_erp_token_and_an_expired_amocrm_authorization_fail(launched, backend):
    Backend.objects.filter(pk=backend.pk).update(credentials={"token": "wrong-token"})
    crm = launched.backend
    crm.credentials = {**crm.credentials, "refresh_token": "revoked",
                       "expires_at": int((timezone.now() - timedelta(days=100)).timestamp())}
    crm.save()

    found = marks()

    assert found["tokens"][0] == FAIL
    assert any("expired" in p for p in found["tokens"][1]) and any("refused" in p for p in found["tokens"][1])
    assert found["backends"][0] == FAIL


def test_a_removed_webhook_a_wrong_stage_a_missing_schedule_and_no_bank_account_fail(launched):
    client = AmoCrmClient(launched.backend)
    for hook in client.webhooks():
        client.delete_webhook(hook["destination"])
    crm = launched.backend
    crm.settings = {**crm.settings, "stage_mapping": {"paid": "Нет такого этапа"}}
    crm.save()
    Schedule.objects.filter(name="amoerp: stock refresh").delete()
    OurOrganization.objects.all().delete()
    our_organization(bank_name="", account="")

    found = marks()

    assert found["webhooks"][0] == FAIL and "None of our webhooks" in found["webhooks"][1][0]
    assert found["stages"] == (FAIL, ["The stage “Нет такого этапа” is in no amoCRM pipeline."])
    assert found["schedules"][0] == FAIL and len(found["schedules"][1]) == 1
    assert found["organization"][0] == FAIL and "bank account" in found["organization"][1][0]
    assert found["backends"][0] == PASS
