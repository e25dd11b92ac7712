"""The one HTTP session factory: default timeouts, journal logging with secrets masked, pause checks, and the
hosts a backend's session may reach (a remote answer pointing elsewhere — a redirect, a next-page link, an upload
or download URL — is refused before anything, the credentials least of all, is sent there)."""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit
from urllib.request import getproxies

import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter

from . import journal, metrics
from .errors import BackendPaused, PermanentError, RetryableError
from .models import Backend, JournalEntry

# Hosts of the vendor's own services a backend of this kind may reach besides its base URL's host (amoCRM's file
# drive, MoySklad's print-form storage). A leading dot: the domain and its subdomains.
VENDOR_HOSTS: dict[str, tuple[str, ...]] = {
    "amocrm": (".amocrm.ru", ".amocrm.com", ".kommo.com"),
    "moysklad": (".moysklad.ru",),
}


class ForeignHost(PermanentError):
    """A remote answer pointed to a host this backend does not talk to; nothing was sent there."""

    def __init__(self, url: str, what: str = "request"):
        super().__init__(f"{what} to a foreign host refused: {journal.secrets.mask_url(url)}")
        self.url = url


def url_origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of a URL, lower-cased, without user info; ("", "") when it has none."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "", ""
    if not host:
        return "", ""
    if ":" in host:
        host = f"[{host}]"
    return parts.scheme.lower(), f"{host}:{port}" if port else host


def allowed_hosts(backend: Backend) -> frozenset[str]:
    """The base URL's host, the vendor's domains for the backend's kind, and `settings.allowed_hosts`."""
    extra = (backend.settings or {}).get("allowed_hosts") or []
    hosts = {url_origin(backend.base_url)[1], *VENDOR_HOSTS.get(backend.kind, ()), *map(str, extra)}
    return frozenset(host.lower() for host in hosts if host)


def host_allowed(url: str, hosts: Iterable[str]) -> bool:
    scheme, netloc = url_origin(url)
    if scheme not in ("http", "https") or not netloc:
        return False
    name = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
    return any(netloc == host or (host.startswith(".") and (name.endswith(host) or name == host[1:]))
               for host in hosts)


def refuse_foreign(url: str, backend: Backend | None, what: str, method: str = "GET") -> ForeignHost:
    """Journal the refusal and return the error to raise."""
    error = ForeignHost(url, what)
    journal.write(journal.Exchange(direction=JournalEntry.Direction.OUT, method=method, url=url,
                                   error=f"ForeignHost: {error}"), backend)
    return error


def same_origin(url: str, base_url: str) -> bool:
    return url_origin(url) == url_origin(base_url)


_deadline_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "integration_http_timeout_cap", default=None
)


@contextmanager
def timeout_cap(seconds: float | None) -> Iterator[None]:
    """Cap the timeout of every request made inside the block (the widget's fast delivery path)."""
    token = _deadline_timeout.set(seconds)
    try:
        yield
    finally:
        _deadline_timeout.reset(token)


def _effective_timeout(requested, default: float):
    timeout = requested if requested is not None else default
    cap = _deadline_timeout.get()
    if cap is None:
        return timeout
    if isinstance(timeout, tuple):
        return tuple(min(part, cap) if part is not None else cap for part in timeout)
    return min(timeout, cap) if timeout is not None else cap


class JournalingAdapter(HTTPAdapter):
    """Sends with a default timeout and writes every exchange (or its failure) to the journal."""

    def __init__(self, backend: Backend | None, timeout: float, **kwargs):
        self.backend = backend
        self.default_timeout = timeout
        self.allowed_hosts = allowed_hosts(backend) if backend is not None else None
        self.metric_label = backend.name if backend is not None else ""
        super().__init__(**kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if self.backend is not None and self.backend.paused:
            raise BackendPaused(self.backend.name)
        if self.allowed_hosts is not None and not host_allowed(request.url or "", self.allowed_hosts):
            raise refuse_foreign(request.url or "", self.backend, "request", request.method or "")
        timeout = _effective_timeout(timeout, self.default_timeout)
        started = time.monotonic()
        exchange = journal.Exchange(
            direction=JournalEntry.Direction.OUT,
            method=request.method or "",
            url=request.url or "",
            request_headers=dict(request.headers),
            request_body=request.body,
        )
        try:
            response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        except Exception as exc:
            exchange.duration_ms = int((time.monotonic() - started) * 1000)
            exchange.error = f"{type(exc).__name__}: {exc}"
            journal.write(exchange, self.backend)
            metrics.observe_external_request(self.metric_label, None, time.monotonic() - started)
            raise
        metrics.observe_external_request(self.metric_label, response.status_code, time.monotonic() - started)
        exchange.duration_ms = int((time.monotonic() - started) * 1000)
        exchange.status_code = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response_body = None if stream else response.content
        journal.write(exchange, self.backend)
        return response


def build_session(backend: Backend | None, *, timeout: float | None = None) -> requests.Session:
    """A requests session for `backend`: default timeout, keep-alive, every exchange journaled.

    Requests raise BackendPaused while the backend (this instance) is paused, and ForeignHost (journaled, nothing
    sent) for a URL outside the backend's hosts (`allowed_hosts`), redirects included.
    """
    session = requests.Session()
    adapter = JournalingAdapter(
        backend,
        timeout if timeout is not None else settings.AMOERP.get("HTTP_TIMEOUT", 10.0),
        pool_connections=4,
        pool_maxsize=8,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "amoerp/0.1 (+https://github.com/amoerp)"
    if not getproxies():
        # Without proxy variables, reading the environment on every request is pure overhead (~2 ms).
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def check_response(response: requests.Response) -> requests.Response:
    """Raise RetryableError for 429/5xx (honouring Retry-After) and PermanentError for other 4xx."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError(
            f"HTTP {status} from {response.request.method} {journal.secrets.mask_url(response.url)}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 400:
        raise PermanentError(journal.secrets.redact_text(response.text[:500]), status=status)
    return response


def request(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    """session.request + check_response, with network errors turned into RetryableError."""
    try:
        response = session.request(method, url, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise RetryableError(f"{type(exc).__name__}: {journal.secrets.mask_url(url)}") from exc
    return check_response(response)
