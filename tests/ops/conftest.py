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


class FakeTelegram:
    """A local HTTP server answering like the Bot API's sendMessage and keeping what it received."""

    def __init__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []
        self.fail = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append({"path": self.path, **body})
                status, answer = (500, {"ok": False}) if fake.fail else (200, {"ok": True, "result": {"message_id": len(received)}})
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="package")
def telegram_server():
    server = FakeTelegram()
    yield server
    server.stop()


@pytest.fixture
def telegram(telegram_server, settings):
    telegram_server.received.clear()
    telegram_server.fail = False
    settings.AMOERP = {**settings.AMOERP, "TELEGRAM_API_URL": telegram_server.url}
    return telegram_server
