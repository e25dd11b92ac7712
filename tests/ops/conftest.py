"""Fixtures of the operations tests (progress, alerts, charts): the MoySklad sandbox, a staff user and an HTTP
session on the live server."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model

from integration.models import Backend
from integration.sandbox.process import start_sandbox

PASSWORD = "ops-pass-123"


@pytest.fixture(scope="package")
def moysklad():
    sandbox = start_sandbox("moysklad", seed="demo")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def erp(moysklad, db):
    """A MoySklad backend on the sandbox with small pages (many progress reports out of the demo catalog)."""
    moysklad.reset()
    moysklad.control("seed", {"dataset": "demo"})
    return Backend.objects.create(
        name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url=moysklad.url + "/api/remap/1.2",
        credentials={"token": "sandbox-token"},
        settings={"backoff_seconds": 0.05, "read_attempts": 2, "page_limit": 10},
    )


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("ops-admin", "ops@example.com", PASSWORD)


@pytest.fixture
def http(live_server, superuser, client):
    """A `requests` session logged in to the live server (real HTTP, like the admin's own polling)."""
    client.force_login(superuser)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.base = live_server.url
    return session
