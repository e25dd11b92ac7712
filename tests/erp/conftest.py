import gzip
import json
from urllib.error import HTTPError
from urllib.request import HTTPRedirectHandler, Request, build_opener

import pytest

from integration.models import Backend
from integration.sandbox.process import start_sandbox

TOKEN = "sandbox-token"
API = "/api/remap/1.2"


@pytest.fixture(scope="session")
def ms_sandbox():
    sandbox = start_sandbox("moysklad", seed="demo", options={"export_ttl": 2})
    yield sandbox
    sandbox.stop()


@pytest.fixture
def ms(ms_sandbox):
    """The MoySklad sandbox with the demo company freshly loaded and no faults."""
    ms_sandbox.reset()
    ms_sandbox.control("seed", {"dataset": "demo"})
    yield ms_sandbox
    ms_sandbox.reset()


@pytest.fixture
def backend(ms, db):
    return Backend.objects.create(
        name="moysklad",
        kind=Backend.Kind.MOYSKLAD,
        base_url=ms.url + API,
        credentials={"token": TOKEN},
        settings={"backoff_seconds": 0.05, "read_attempts": 2, "webhook_secret": "hook-secret-1"},
    )


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # show the 303 and its Location to the test


_opener = build_opener(_NoRedirect)


def raw(sandbox, method: str, path: str, *, body=None, headers=None, gzip_ok: bool = True):
    """A bare HTTP call to the sandbox API: (status, headers, parsed JSON or bytes)."""
    all_headers = {"Authorization": f"Bearer {TOKEN}", **({"Accept-Encoding": "gzip"} if gzip_ok else {})}
    all_headers.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    request = Request(sandbox.url + API + path, data=data, method=method, headers=all_headers)
    try:
        with _opener.open(request, timeout=30) as response:
            status, head, payload = response.status, dict(response.headers), response.read()
    except HTTPError as exc:
        status, head, payload = exc.code, dict(exc.headers), exc.read()
    if head.get("Content-Encoding") == "gzip":
        payload = gzip.decompress(payload)
    try:
        return status, head, json.loads(payload) if payload else None
    except ValueError:
        return status, head, payload


def entities(sandbox, kind: str, filter_: str = "") -> list[dict]:
    path = f"moysklad/entities/{kind}" + (f"?filter={filter_}" if filter_ else "")
    return sandbox.control(path, method="GET")
