import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread, _StaticFilesHandler
from rest_framework.test import APIClient

from integration.amocrm.widget_token import mint_widget_token
from integration.widget import cors
from tests.amocrm.conftest import amo_sandbox, as_manager, connect_backend, sandbox  # noqa: F401 — fixtures

APPROVER = 777
MANAGER = 501


@pytest.fixture
def amo(sandbox, db):  # noqa: F811
    """The token's amoCRM account: the sandbox, connected; the widget checks its deals there."""
    cors.reset_cache()
    sandbox.control("amocrm/settings", {"rate_limit": 1000})
    yield connect_backend(sandbox, approvers=[APPROVER], rate_limit=1000, rate_period=1.0)
    cors.reset_cache()


def create_deals(emulator, count: int = 1, *, company_id: int | None = None, contact_id: int | None = None
                 ) -> list[int]:
    """Deals a manager creates in amoCRM (at most 250 at a time), optionally with a company or contact."""
    item: dict = {"name": "Сделка"}
    if company_id:
        item["_embedded"] = {"companies": [{"id": company_id}]}
    if contact_id:
        item.setdefault("_embedded", {})["contacts"] = [{"id": contact_id, "is_main": True}]
    body = as_manager(emulator, "POST", "/api/v4/leads", [dict(item) for _ in range(count)])
    return [lead["id"] for lead in body["_embedded"]["leads"]]


@pytest.fixture
def deal(amo, sandbox):  # noqa: F811
    """deal(company_id=None) → the id of a new deal in the token's amoCRM account."""
    return lambda **kwargs: create_deals(sandbox, **kwargs)[0]


class WidgetClient:
    """An API client that signs every request with a fresh amoCRM token (tokens are single-use)."""

    def __init__(self, backend, user_id: int, language: str = "en"):
        self.backend, self.user_id, self.language = backend, user_id, language
        self.client = APIClient()

    def headers(self, **extra):
        return {"HTTP_X_AUTH_TOKEN": mint_widget_token(self.backend, self.user_id),
                "HTTP_ACCEPT_LANGUAGE": self.language, **extra}

    def get(self, path, data=None, **extra):
        return self.client.get(path, data, **self.headers(**extra))

    def put(self, path, data, **extra):
        return self.client.put(path, data, format="json", **self.headers(**extra))

    def post(self, path, data=None, **extra):
        return self.client.post(path, data or {}, format="json", **self.headers(**extra))


@pytest.fixture
def manager(amo):
    return WidgetClient(amo, MANAGER)


@pytest.fixture
def approver(amo):
    return WidgetClient(amo, APPROVER)


class _WideServer(ThreadedWSGIServer):
    request_queue_size = 128  # 50 clients connect at once; the default backlog (10) resets some


class _WideServerThread(LiveServerThread):
    server_class = _WideServer


@pytest.fixture
def http_server(transactional_db):
    """A threaded live server (port 0) whose listen backlog takes a burst of 50 connections."""
    thread = _WideServerThread("127.0.0.1", _StaticFilesHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait(timeout=30)
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
