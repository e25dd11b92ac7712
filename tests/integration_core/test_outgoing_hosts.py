"""URLs that come from remote answers are followed to the backend's own hosts only: a `_links.next`, a print-form
redirect or any redirect pointing elsewhere is refused (ForeignHost, journaled) and the foreign host hears nothing.

Two tiny HTTP servers play the remote side: "the account" answers with a link to "the stranger", which records
every request it gets (it must get none).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integration.amocrm.client import AmoCrmClient
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.erp.moysklad.client import MoySkladClient
from integration.http import ForeignHost, build_session, host_allowed
from integration.models import Backend, JournalEntry

pytestmark = pytest.mark.django_db

TOKEN = "amo-access-token-never-to-strangers-123"
MS_TOKEN = "ms-token-never-to-strangers-456"


class Server:
    """A real HTTP server on 127.0.0.1: `routes[(method, path)] = (status, headers, body)`; records requests."""

    def __init__(self):
        self.routes: dict[tuple[str, str], tuple[int, dict, bytes]] = {}
        self.received: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                owner.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                status, headers, payload = owner.routes.get((self.command, path), (404, {}, b""))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(payload)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def json(self, method: str, path: str, data, status: int = 200, headers: dict | None = None) -> None:
        self.routes[(method, path)] = (status, {"Content-Type": "application/json", **(headers or {})},
                                       json.dumps(data).encode())

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def account():
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def stranger():
    server = Server()
    yield server
    server.stop()


def refusals(backend: Backend) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(backend_id=backend.pk, error__startswith="ForeignHost"))


def test_amocrm_links_next_to_another_host_is_refused_and_the_token_never_sent(account, stranger):
    backend = Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url=account.url,
                                     credentials={"access_token": TOKEN, "long_lived": True})
    account.json("GET", "/api/v4/leads", {
        "_embedded": {"leads": [{"id": 1}]},
        "_links": {"next": {"href": f"{stranger.url}/api/v4/leads?page=2&limit=250"}},
    })
    client = AmoCrmClient(backend)
    seen = []
    with pytest.raises(ForeignHost):
        for lead in client.paginate("/api/v4/leads", "leads"):
            seen.append(lead["id"])
    assert seen == [1]  # the first page, from the account itself, is served
    assert account.received[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert stranger.received == []
    [entry] = refusals(backend)
    assert entry.url.startswith(stranger.url) and TOKEN not in json.dumps(entry.request_headers)


def test_amocrm_links_next_on_the_account_host_is_followed(account):
    backend = Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url=account.url,
                                     credentials={"access_token": TOKEN, "long_lived": True})
    account.json("GET", "/api/v4/leads", {"_embedded": {"leads": [{"id": 1}]},
                                          "_links": {"next": {"href": f"{account.url}/api/v4/leads2?page=2"}}})
    account.json("GET", "/api/v4/leads2", {"_embedded": {"leads": [{"id": 2}]}, "_links": {}})
    assert [lead["id"] for lead in AmoCrmClient(backend).paginate("/api/v4/leads", "leads")] == [1, 2]


def test_amocrm_file_upload_url_on_a_foreign_host_is_refused(account, stranger):
    backend = Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url=account.url,
                                     credentials={"access_token": TOKEN, "long_lived": True})
    account.json("GET", "/api/v4/account", {"id": 1, "drive_url": f"{account.url}/drive"})
    account.json("POST", "/drive/v1.0/sessions", {"session_id": 7, "upload_url": f"{stranger.url}/upload/x",
                                                  "max_part_size": 524288})
    with pytest.raises(ForeignHost):
        AmoCrmClient(backend).upload_file("invoice-1.pdf", b"%PDF-1.4 invoice")
    assert stranger.received == []
    assert len(refusals(backend)) == 1


def test_moysklad_print_form_redirect_to_a_foreign_host_is_refused(account, stranger):
    backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url=account.url + "/api/remap/1.2",
                                     credentials={"token": MS_TOKEN}, settings={"read_attempts": 1})
    api = "/api/remap/1.2/entity/invoiceout"
    account.json("GET", f"{api}/metadata/embeddedtemplate",
                 {"rows": [{"meta": {"href": f"{account.url}{api}/metadata/embeddedtemplate/t1"}}]})
    stranger.routes[("GET", "/temp/invoice.pdf")] = (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 evil")
    account.routes[("POST", f"{api}/inv-1/export/")] = (303, {"Location": f"{stranger.url}/temp/invoice.pdf"}, b"")
    with pytest.raises(ForeignHost):
        MoySkladAdapter(backend).fetch_document_pdf("invoice", "inv-1")
    assert stranger.received == []
    assert [entry.url for entry in refusals(backend)] == [f"{stranger.url}/temp/invoice.pdf"]


def test_an_automatic_redirect_to_a_foreign_host_is_refused_before_sending_the_token(account, stranger):
    backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url=account.url + "/api/remap/1.2",
                                     credentials={"token": MS_TOKEN}, settings={"read_attempts": 1})
    account.routes[("GET", "/api/remap/1.2/entity/product")] = (302, {"Location": f"{stranger.url}/steal"}, b"")
    with pytest.raises(ForeignHost):
        MoySkladClient(backend).get("entity/product")
    assert stranger.received == []
    assert len(refusals(backend)) == 1


def test_vendor_domains_and_configured_hosts_are_allowed(account):
    backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="https://api.moysklad.ru/api/remap/1.2",
                                     settings={"allowed_hosts": ["files.example.com"]})
    hosts = build_session(backend).get_adapter("https://x").allowed_hosts
    assert host_allowed("https://print-prod.moysklad.ru/temp/x.pdf", hosts)
    assert host_allowed("https://files.example.com/x.pdf", hosts)
    assert not host_allowed("https://moysklad.ru.evil.com/x.pdf", hosts)
    assert not host_allowed("https://evil.com/?u=https://api.moysklad.ru", hosts)
    assert not host_allowed("file:///etc/passwd", hosts)
