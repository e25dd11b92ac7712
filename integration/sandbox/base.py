"""Shared plumbing of the sandbox emulators: request/response, a regex router, fault injection, a threaded server.

The emulators stand in for amoCRM and MoySklad over real HTTP, in their own process, so that our client code
is exercised exactly as in production. Control endpoints under `/_control/` are never faulted or rate-limited.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BadRequestBody(ValueError):
    """The request body is not valid JSON."""


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestBody(str(exc)) from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    data: Any,
    status: int = 200,
    *,
    content_type: str = "application/json; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    return Response(status, body, {"Content-Type": content_type, **(headers or {})})


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


Handler = Callable[..., Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        compiled = re.compile(pattern)

        def register(fn: Handler) -> Handler:
            self._routes.append((method.upper(), compiled, fn))
            return fn

        return register

    def dispatch(self, request: Request) -> Response | None:
        path_matched = False
        for method, pattern, fn in self._routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            path_matched = True
            if method == request.method:
                return fn(request, **match.groupdict())
        if path_matched:
            return json_response({"error": f"method {request.method} not allowed"}, 405)
        return None


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    down: bool = False
    drop_responses: int = 0
    path_regex: str = ""

    def applies_to(self, path: str) -> bool:
        return not self.path_regex or re.search(self.path_regex, path) is not None


class Emulator:
    """Base of an emulator: override handle/reset/seed/stats and register routes on self.router."""

    name = "base"
    gzip_responses = False

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.lock = threading.RLock()
        self.router = Router()
        self.base_url = ""

    def handle(self, request: Request) -> Response:
        return self.router.dispatch(request) or self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return json_response({"error": f"no route for {request.method} {request.path}"}, 404)

    def reset(self) -> None:
        """Clear the storage."""

    def seed(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def stats(self) -> dict[str, Any]:
        return {}


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
        self.faults = Faults()
        self.faults_lock = threading.Lock()
        self.status_counts: Counter[int] = Counter()
        self.dropped = 0

    # --- control endpoints -------------------------------------------------------------------------
    def control(self, request: Request) -> Response:
        action = request.path.removeprefix("/_control/").strip("/")
        if action == "health":
            return json_response({"ok": True, "emulator": self.emulator.name})
        if action == "faults":
            with self.faults_lock:
                if request.method == "POST":
                    payload = request.json() or {}
                    unknown = set(payload) - set(asdict(self.faults))
                    if unknown:
                        return json_response({"error": f"unknown fault fields: {sorted(unknown)}"}, 400)
                    self.faults = Faults(**{**asdict(self.faults), **payload})
                return json_response(asdict(self.faults))
        if action == "reset" and request.method == "POST":
            with self.faults_lock:
                self.faults = Faults()
            self.status_counts.clear()
            self.dropped = 0
            self.emulator.reset()
            return json_response({"ok": True})
        if action == "seed" and request.method == "POST":
            return json_response(self.emulator.seed(request.json() or {}))
        if action == "stats":
            return json_response(
                {
                    "statuses": {str(k): v for k, v in sorted(self.status_counts.items())},
                    "dropped": self.dropped,
                    **self.emulator.stats(),
                }
            )
        # Emulator-specific controls live on its router under /_control/<name>/…
        return self.emulator.router.dispatch(request) or json_response({"error": "unknown control"}, 404)

    # --- faults --------------------------------------------------------------------------------------
    def fault_before(self, request: Request) -> Response | None:
        with self.faults_lock:
            faults = self.faults
        if not faults.applies_to(request.path):
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.down:
            return empty_response(503)
        if faults.error_rate and random.random() < faults.error_rate:  # noqa: S311 - test fault, not crypto
            return json_response({"error": "injected fault"}, faults.error_status)
        return None

    def take_drop(self, request: Request) -> bool:
        if request.method not in WRITE_METHODS:
            return False
        with self.faults_lock:
            if self.faults.drop_responses > 0 and self.faults.applies_to(request.path):
                self.faults.drop_responses -= 1
                self.dropped += 1
                return True
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if headers.get("content-encoding", "").lower() == "gzip" and body:
            body = gzip.decompress(body)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            raw_query=parts.query,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=body,
        )
        server = self.server
        if request.path.startswith("/_control/"):
            response = _safe(server.control, request)
        else:
            response = server.fault_before(request) or _safe(server.emulator.handle, request)
            if server.take_drop(request):
                # The write is committed; the client never hears about it.
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
        server.status_counts[response.status] += 1
        self._write(request, response)

    def _write(self, request: Request, response: Response) -> None:
        body = response.body
        headers = dict(response.headers)
        accepts_gzip = "gzip" in (request.header("accept-encoding") or "")
        if body and self.server.emulator.gzip_responses and accepts_gzip and "Content-Encoding" not in headers:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


def _safe(fn: Callable[[Request], Response], request: Request) -> Response:
    try:
        return fn(request)
    except BadRequestBody as exc:
        return json_response({"error": f"invalid JSON: {exc}"}, 400)
    except Exception:  # an emulator bug must answer 500, as a real server would, not kill the thread
        logger.exception("sandbox handler failed for %s %s", request.method, request.path)
        return json_response({"error": "internal sandbox error"}, 500)


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> tuple[SandboxServer, str]:
    """Bind the server (port 0 = a free one), set emulator.base_url, and return it without serving yet."""
    server = SandboxServer((host, port), emulator)
    bound_host, bound_port = server.server_address[:2]
    emulator.base_url = f"http://{bound_host}:{bound_port}"
    return server, emulator.base_url
