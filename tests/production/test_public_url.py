"""AMOERP_PUBLIC_URL in production: required, an absolute http(s) URL, and webhooks never registered to loopback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from integration.amocrm.setup import prepare_account
from integration.erp.moysklad.setup import subscribe_webhooks
from integration.models import Backend
from integration.public_url import PublicUrlError

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "k8#v2!pQz7@xL0m$Rt5^wYb3&Nc9*Ej4(Hs6)Ug1_Fd8+Ai2=Ko7-Jl5~Mn3|Bq9",
              "ALLOWED_HOSTS": "amoerp.example.com",
              "AMOERP_ENCRYPTION_KEYS": "Zm9yLXRoZS1kZXBsb3ktY2hlY2stb25seS0zMi1ieXQ="}


def manage_check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "AMOERP_PUBLIC_URL"}}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION, **env}, timeout=120)


def test_production_refuses_to_start_without_the_public_url():
    result = manage_check()
    assert result.returncode != 0
    assert "AMOERP_PUBLIC_URL must be set" in result.stderr


def test_production_refuses_a_public_url_that_is_not_an_absolute_http_url():
    result = manage_check(AMOERP_PUBLIC_URL="amoerp.example.com")
    assert result.returncode != 0
    assert "AMOERP_PUBLIC_URL" in result.stderr and "http(s)" in result.stderr


def test_production_starts_with_a_public_url():
    result = manage_check(AMOERP_PUBLIC_URL="https://amoerp.example.com")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def unreachable_backends(db):
    """Backends whose base URL refuses connections: any HTTP call would fail with a different error."""
    erp = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api/remap/1.2",
                                 credentials={"token": "t", "webhook_secret": "s" * 24})
    crm = Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url="http://127.0.0.1:9",
                                 credentials={"access_token": "t", "webhook_secret": "s" * 24})
    return erp, crm


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000", "https://[::1]/",
                                 "http://127.8.0.1", "http://LOCALHOST."])
def test_webhooks_refuse_to_register_to_a_loopback_address_in_production(unreachable_backends, url):
    erp, crm = unreachable_backends
    with override_settings(AMOERP={**settings.AMOERP, "PUBLIC_URL": url, "LOOPBACK_WEBHOOKS": False}):
        with pytest.raises(PublicUrlError) as moysklad:
            subscribe_webhooks(erp)
        with pytest.raises(PublicUrlError) as amocrm:
            prepare_account(crm)
    for error in (moysklad.value, amocrm.value):
        assert error.field == "AMOERP_PUBLIC_URL"
        assert "loopback" in str(error)


def test_an_explicit_loopback_url_is_refused_too(unreachable_backends):
    erp, crm = unreachable_backends
    production = override_settings(AMOERP={**settings.AMOERP, "LOOPBACK_WEBHOOKS": False})
    with production, pytest.raises(PublicUrlError):
        subscribe_webhooks(erp, public_url="http://127.0.0.1:8000")
    with production, pytest.raises(PublicUrlError):
        prepare_account(crm, public_url="http://localhost")


def test_production_mode_refuses_loopback_webhooks_by_default():
    result = subprocess.run([sys.executable, "-c", "from django.conf import settings; import django; django.setup(); "
                             "print(settings.AMOERP['LOOPBACK_WEBHOOKS'])"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION,
                                 "AMOERP_PUBLIC_URL": "https://amoerp.example.com"}, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
