"""The MoySklad JSON API 1.2 client: auth, gzip, paging, the rate limits, retries.

- Bearer token from `backend.credentials["token"]` (or Basic from login/password).
- `Accept-Encoding: gzip` on every request (MoySklad answers 415 without it).
- A client-side limiter shared by every process and host using the same account (integration.erp.moysklad.
  ratelimit): a little under MoySklad's 45 units / 3 s (full stock reports weigh 5) and at most 5 requests in
  flight, so normal running never sees a 429. On a 429 (another program using the account) we wait
  `X-Lognex-Retry-After` and retry.
- Reads are retried on 5xx / timeouts / connection errors with exponential backoff; a create is only
  retried when it carries a `syncId` (MoySklad returns the existing object on a repeat).
- 4xx → PermanentError with MoySklad's error text; exhausted retries → RetryableError.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from django.conf import settings
from django.db import connection

from integration.erp.moysklad.ratelimit import limiter_for
from integration.errors import PermanentError, RetryableError
from integration.http import build_session
from integration.models import Backend

API_PATH = "/api/remap/1.2"
HEAVY = ("/report/stock/all", "/report/stock/bystore")
PAGE_LIMIT = 1000


def api_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root if root.endswith(API_PATH) else root + API_PATH


def error_text(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason or ""
    parts = []
    for error in errors:
        text = error.get("error") or ""
        if error.get("parameter"):
            text += f" (parameter {error['parameter']})"
        if error.get("code"):
            text += f" [code {error['code']}]"
        parts.append(text)
    return "; ".join(parts) or response.text[:300]


class MoySkladClient:
    def __init__(self, backend: Backend, *, timeout: float | None = None):
        self.backend = backend
        self.root = api_root(backend.base_url)
        self.session = build_session(backend, timeout=timeout)
        self.session.headers.update(self._auth_headers(backend))
        self.session.headers["Accept-Encoding"] = "gzip"
        self.session.headers["Content-Type"] = "application/json;charset=utf-8"
        public_url = settings.AMOERP.get("PUBLIC_URL") or ""
        if public_url:
            # Our own writes must not come back to us as webhooks.
            self.session.headers["X-Lognex-WebHook-DisableByPrefix"] = public_url
        self.limiter = limiter_for(backend)
        options = backend.settings or {}
        self.read_attempts = int(options.get("read_attempts", 4))
        self.backoff = float(options.get("backoff_seconds", 0.5))
        self.max_429_waits = int(options.get("max_429_waits", 5))
        self.page_limit = min(PAGE_LIMIT, int(options.get("page_limit", PAGE_LIMIT)))

    @staticmethod
    def _auth_headers(backend: Backend) -> dict[str, str]:
        credentials = backend.credentials or {}
        if credentials.get("token"):
            return {"Authorization": f"Bearer {credentials['token']}"}
        if credentials.get("login"):
            raw = f"{credentials['login']}:{credentials.get('password', '')}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        raise PermanentError("MoySklad backend has no credentials (token or login/password)")

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.root}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        retry: bool | None = None,
        allow_redirects: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """One API call with limits and retries; returns the response (2xx/3xx) or raises."""
        url = self.url(path)
        weight = 5 if urlsplit(url).path.rstrip("/").endswith(HEAVY) else 1
        retry = method == "GET" if retry is None else retry
        attempts = self.read_attempts if retry else 1
        attempt = waits_429 = 0
        while True:
            with self.limiter.slot():  # a slot first: the request leaves as soon as its rate grant comes due
                self.limiter.acquire(weight)
                try:
                    response = self.session.request(
                        method, url, params=params, json=json, allow_redirects=allow_redirects, stream=stream
                    )
                    if stream:
                        response.content  # noqa: B018 - read the whole body inside the slot (and its timeout)
                except requests.RequestException as exc:
                    attempt += 1
                    if attempt >= attempts:
                        raise RetryableError(
                            f"MoySklad {method} {urlsplit(url).path}: {type(exc).__name__}: {exc}"
                        ) from exc
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
            status = response.status_code
            if status == 429:
                waits_429 += 1
                retry_after = float(response.headers.get("X-Lognex-Retry-After") or 1000) / 1000
                if waits_429 > self.max_429_waits:
                    raise RetryableError(
                        f"MoySklad rate limit (429) persists on {urlsplit(url).path}", retry_after=retry_after
                    )
                self.limiter.penalise(retry_after)
                continue  # a 429 was not executed: safe to repeat, even a write
            if status >= 500:
                attempt += 1
                if attempt >= attempts:
                    raise RetryableError(
                        f"MoySklad {method} {urlsplit(url).path}: HTTP {status} after {attempt} attempt(s)"
                    )
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if status >= 400:
                raise PermanentError(
                    f"MoySklad {method} {urlsplit(url).path}: {error_text(response)}", status=status
                )
            return response

    def get(self, path: str, params: dict | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any, *, retry: bool = False) -> Any:
        return self.request("POST", path, json=body, retry=retry).json()

    def put(self, path: str, body: Any) -> Any:
        # A PUT of the full state is idempotent: repeating it after a lost response is harmless.
        return self.request("PUT", path, json=body, retry=True).json()

    def iter_pages(
        self, path: str, params: dict | None = None, *, limit: int | None = None,
        on_size: Callable[[int], None] | None = None,
    ) -> Iterator[list[dict]]:
        """Stream a list page by page, following `meta.nextHref`; the next page is fetched in the background
        while the caller works on the current one (one page ahead at most: memory stays flat). `on_size` gets
        the list's `meta.size` (its row count) once the first page is in."""
        limit = min(limit or self.page_limit, self.page_limit)

        # Pages are journaled like any exchange: the journal truncates a body before redacting it (~2 ms a page).
        def fetch(url: str, query: dict | None = None) -> dict:
            return orjson.loads(self.request("GET", url, params=query).content)

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moysklad-prefetch")
        try:
            page = fetch(path, {**(params or {}), "limit": limit, "offset": 0})
            if on_size is not None and isinstance((page.get("meta") or {}).get("size"), int):
                on_size(page["meta"]["size"])
            while True:
                next_href = (page.get("meta") or {}).get("nextHref")
                ahead = pool.submit(fetch, next_href) if next_href else None
                yield page.get("rows") or []
                if ahead is None:
                    return
                page = ahead.result()
        finally:
            pool.submit(lambda: connection.close()).result()  # the journal opened a connection in that thread
            pool.shutdown(cancel_futures=True)
