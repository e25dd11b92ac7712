"""Fixtures of the admin UI tests: staff users in the three groups, headless Chromium on a live server."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from integration.staff.groups import ADMIN_GROUP, AUDITOR_GROUP, OPERATOR_GROUP

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "staff-pass-123"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def make_user(username: str, group: str | None, **extra):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def integration_admin(db):
    return make_user("admin1", ADMIN_GROUP)


@pytest.fixture
def operator(db):
    return make_user("operator1", OPERATOR_GROUP)


@pytest.fixture
def auditor(db):
    return make_user("auditor1", AUDITOR_GROUP)


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for this package's tests (Debian's, installed by tests/ensure_chromium.sh).

    Package scope: Playwright's sync API keeps its event loop marked as running in this thread, which
    makes Django refuse ORM calls; the flag below allows them, and both end with this package."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run tests/ensure_chromium.sh")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(request, browser, live_server):
    """A fresh browser context (English UI) on the live server; a screenshot is saved when the test fails."""
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(tab.content(), encoding="utf-8")
    context.close()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    """Through the admin's login form, as a person would."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
