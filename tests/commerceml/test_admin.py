"""The admin page of a 1C (CommerceML) exchange: login and a password kept only as a hash, the URL to enter in 1C."""

import pytest
from django.urls import reverse

from integration.erp.commerceml.config import exchange_config, login_matches
from integration.models import Backend

pytestmark = pytest.mark.django_db
FORM = {"name": "onec-cml", "base_url": "https://1c.example.ru/ut", "active": "on", "exchange_login": "Обмен",
        "exchange_password": "Пароль-1C", "exchange_file_limit": "1048576", "exchange_zip": "on",
        "exchange_encoding": "windows-1251", "exchange_budget_seconds": "20"}


def test_an_exchange_is_set_up_with_a_hashed_password_and_shows_its_url(admin_client, settings):
    settings.AMOERP = {**settings.AMOERP, "PUBLIC_URL": "https://amoerp.example.ru"}
    response = admin_client.post(reverse("admin:integration_cmlexchange_add"), FORM)
    assert response.status_code == 302, response.content.decode()[:3000]
    backend = Backend.objects.get(name="onec-cml")
    config = exchange_config(backend)
    assert backend.kind == "onec_cml" and config.login == "Обмен" and config.encoding == "windows-1251"
    assert "Пароль-1C" not in str(backend.credentials) and login_matches(config, "Обмен", "Пароль-1C")

    page = admin_client.get(reverse("admin:integration_cmlexchange_change", args=[backend.pk])).content.decode()
    assert f"https://amoerp.example.ru/exchange/1c/{config.secret}/" in page
    assert "Пароль-1C" not in page and config.password_hash not in page

    kept = {**FORM, "exchange_password": "", "exchange_encoding": "utf-8"}  # an empty password keeps the old one
    admin_client.post(reverse("admin:integration_cmlexchange_change", args=[backend.pk]), kept)
    config = exchange_config(Backend.objects.get(pk=backend.pk))
    assert config.encoding == "utf-8" and login_matches(config, "Обмен", "Пароль-1C")


def test_a_new_exchange_needs_a_password(admin_client):
    response = admin_client.post(reverse("admin:integration_cmlexchange_add"), {**FORM, "exchange_password": ""})
    assert response.status_code == 200 and not Backend.objects.exists()
