"""«Check connection» in the admin: the configuration found, or every entity set the publication lacks."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from integration.models import Backend
from integration.sandbox.process import start_sandbox
from tests.onec.conftest import make_backend

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def bare_publication():
    """An ERP 2 publication whose composition lacks the customer order and the barcodes."""
    sandbox = start_sandbox("onec", options={"profile": "erp2", "omit": [
        "Document_ЗаказКлиента", "InformationRegister_ШтрихкодыНоменклатуры"]})
    yield sandbox
    sandbox.stop()


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.test", "pw"))
    return client


def _check(admin_client, backend) -> str:
    url = reverse("admin:onec_onecbase_changelist")
    with translation.override("ru"):
        response = admin_client.post(url, {"action": "check_selected", ACTION_CHECKBOX_NAME: [str(backend.pk)]},
                                     follow=True, HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 200
    return response.content.decode()


def test_check_names_the_configuration(admin_client, onec):
    backend = make_backend(onec)
    page = _check(admin_client, backend)
    assert "подключено, конфигурация УТ 11" in page
    assert Backend.objects.get(pk=backend.pk).settings["onec_profile"]["name"] == "ut11"


def test_check_lists_each_missing_entity_set(admin_client, bare_publication):
    backend = make_backend(bare_publication)
    page = _check(admin_client, backend)
    assert "добавьте в состав OData: InformationRegister_ШтрихкодыНоменклатуры, Document_ЗаказКлиента" in page
    detail = admin_client.get(reverse("admin:onec_onecbase_change", args=[backend.pk])).content.decode()
    assert "<code>Document_ЗаказКлиента</code>" in detail


def test_check_reports_a_refused_login(admin_client, onec):
    backend = make_backend(onec)
    backend.credentials = {"login": "Администратор", "password": "wrong"}
    backend.save()
    page = _check(admin_client, backend)
    assert "HTTP 401" in page and "wrong" not in page.replace("wrong-", "")
