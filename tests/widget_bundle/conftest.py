"""The demo card world, set up once per module: a live server, the amoCRM and MoySklad sandboxes with the demo
company (as `make demo` loads it), and one headless Chromium (Debian's, as in tests/admin_ui)."""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from integration.models import Backend
from integration.sandbox.management.commands.demo import (
    AMO_ACCOUNT_ID,
    AMO_CLIENT_ID,
    AMO_CLIENT_SECRET,
    ERP_SYNCS,
)
from integration.sandbox.management.commands.demo import Command as DemoCommand
from integration.sandbox.process import SandboxProcess, start_sandbox
from integration.widget import cors
from tests.admin_ui.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.erp.conftest import ms_sandbox  # noqa: F401 — fixture

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
MANAGER = 1001
APPROVER = 1002  # the demo account's approver (manage.py demo)


@dataclass
class DemoWorld:
    url: str
    amo: SandboxProcess
    ms: SandboxProcess
    crm: Backend
    erp: Backend


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def amo_demo(live_server):
    """The amoCRM sandbox of the demo account; its widget tokens are issued for this live server."""
    sandbox = start_sandbox("amocrm", seed="demo", options={
        "client_id": AMO_CLIENT_ID, "client_secret": AMO_CLIENT_SECRET, "account_id": AMO_ACCOUNT_ID,
        "redirect_uri": f"{live_server.url}/hooks/amocrm/oauth/", "rate_limit": 1000,
    })
    yield sandbox
    sandbox.stop()


@pytest.fixture
def world(transactional_db, live_server, amo_demo, ms_sandbox, settings_module):  # noqa: F811
    """What `make demo` prepares for the widget (same commands, same demo company), in ~2 s."""
    amo_demo.reset()
    amo_demo.control("seed", {"dataset": "demo"})
    ms_sandbox.reset()
    ms_sandbox.control("seed", {"dataset": "demo"})
    cors.reset_cache()
    demo = DemoCommand(stdout=io.StringIO())
    erp = demo.connect_moysklad(ms_sandbox, live_server.url)
    crm = demo.connect_amocrm(amo_demo, live_server.url)
    demo.run_syncs(erp, ERP_SYNCS)
    call_command("load_demo", stdout=io.StringIO())
    yield DemoWorld(url=live_server.url, amo=amo_demo, ms=ms_sandbox, crm=crm, erp=erp)
    cors.reset_cache()


@pytest.fixture(scope="module")
def settings_module():
    """The demo page is served outside DEBUG only when AMOERP_WIDGET["DEMO_PAGE"] is on."""
    from django.conf import settings

    override = override_settings(AMOERP_WIDGET={**settings.AMOERP_WIDGET, "DEMO_PAGE": True})
    override.enable()
    yield
    override.disable()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run tests/ensure_chromium.sh")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API marks this thread's loop running
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
def open_card(request, browser, world):
    """open_card(user=1001, lang="en") → a page on the demo card with the widget's panel drawn."""
    contexts, console = [], []

    def opener(user: int = MANAGER, lang: str = "en"):
        context = browser.new_context(base_url=world.url, locale="en-US", viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        page.goto(f"/widget-demo/?lang={lang}&user={user}")
        page.wait_for_selector(".amoerp-panel .amoerp-search__input")
        page.wait_for_selector(".amoerp-platform")  # the ping answered
        return page

    yield opener
    report = getattr(request.node, "rep_call", None)
    for index, context in enumerate(contexts):
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid) + f"-{index}"
            for page in context.pages:
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                (ARTIFACTS / f"{name}.html").write_text(page.content(), encoding="utf-8")
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(console), encoding="utf-8")
        context.close()
