"""The 1C standard OData (v3) client: HTTP Basic with a UTF-8 login, JSON without metadata, paging, key batches.

- `backend.base_url`: the publication (`http://host/ut11`) or its OData root (`…/odata/standard.odata`).
- `backend.credentials`: `login` (often Cyrillic: encoded UTF-8 before Base64, reference §1.1) and `password`.
- `backend.settings`: `pool_size` (the publication's `poolSize`, default 10) caps our parallel requests
  (additions §1.1); `page_size` (default 5000, as production scripts page, additions §1.4); `key_batch`
  (≤ 40 keys per `or` filter); `read_attempts`, `backoff_seconds`.
- Lists page with `$top/$skip` and a stable `$orderby=Ref_Key`: no source shows 1C paging server-side.
- Key lookups go in batches of ≤ 40 `Ref_Key eq guid'…' or …`; a batch that fails (a long URL refused, 1C's
  internal error) is halved and retried, as the 1C-side clients do (additions §1.4).
- Reads are retried on 5xx (503: the publication's session pool is full), timeouts and connection errors; writes
  are never retried here — the adapter looks up what a lost write did before repeating it.
- 4xx → PermanentError with the `odata.error` message; 401 → PermanentError naming the login, never the password.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import orjson
import requests
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from integration.errors import PermanentError, RetryableError
from integration.http import build_session
from integration.models import Backend

ODATA_PATH = "/odata/standard.odata"
# Percent-encode Cyrillic, keep OData's punctuation readable (python-1c-odata's safe set, reference §1.6).
SAFE = "$,'()/:;_!=*"
NOMETADATA = "json;odata=nometadata"
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
MAX_KEY_BATCH = 40
T = TypeVar("T")

_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def odata_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root if root.endswith(ODATA_PATH) else root + ODATA_PATH


def guid(value: str) -> str:
    return f"guid'{value}'"


def cast(value: str, entity_set: str) -> str:
    """A ref in a composite-type field (additions §1.2): `cast(guid'…', 'Document_ЗаказКлиента')`."""
    return f"cast({guid(value)}, '{entity_set}')"


def text(value: str) -> str:
    """An OData string literal: the inner quote doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def datetime_literal(value) -> str:
    """1C stores wall-clock time without a zone (reference §1.2): send the moment as it reads in Moscow."""
    from zoneinfo import ZoneInfo

    if getattr(value, "tzinfo", None) is not None:
        value = value.astimezone(ZoneInfo("Europe/Moscow"))
    return f"datetime'{value.strftime('%Y-%m-%dT%H:%M:%S')}'"


def any_of(field: str, keys: Iterable[str]) -> str:
    return " or ".join(f"{field} eq {guid(k)}" for k in keys)


def error_text(response: requests.Response) -> str:
    try:
        error = response.json().get("odata.error") or {}
        message = (error.get("message") or {}).get("value") or ""
        return f"{message} [code {error.get('code')}]" if message else response.text[:300]
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason or ""


def pool_slots(backend: Backend) -> threading.BoundedSemaphore:
    """One semaphore per publication in this process: our requests in flight never exceed its pool size."""
    size = max(1, int((backend.settings or {}).get("pool_size", 10)))
    key = f"{odata_root(backend.base_url)}#{size}"
    with _slots_lock:
        return _slots.setdefault(key, threading.BoundedSemaphore(size))


class OneCClient:
    def __init__(self, backend: Backend, *, timeout: float | None = None):
        self.backend = backend
        self.root = odata_root(backend.base_url)
        options = backend.settings or {}
        self.session = build_session(backend, timeout=timeout)
        self.session.headers.update(self._auth_headers(backend))
        self.session.headers["Accept"] = "application/json"
        self.pool_size = max(1, int(options.get("pool_size", 10)))
        self.slots = pool_slots(backend)
        self.page_size = max(1, int(options.get("page_size", 5000)))
        self.key_batch = max(1, min(MAX_KEY_BATCH, int(options.get("key_batch", MAX_KEY_BATCH))))
        self.read_attempts = max(1, int(options.get("read_attempts", 4)))
        self.backoff = float(options.get("backoff_seconds", 0.5))

    @staticmethod
    def _auth_headers(backend: Backend) -> dict[str, str]:
        credentials = backend.credentials or {}
        login = credentials.get("login")
        if not login:
            raise PermanentError("1C backend has no credentials: set login and password of the integration user")
        raw = f"{login}:{credentials.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    # ------------------------------------------------------------------ transport
    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = f"{self.root}/{quote(path.lstrip('/'), safe=SAFE)}"
        if params:
            url += "?" + "&".join(f"{quote(k, safe='$')}={quote(str(v), safe=SAFE)}" for k, v in params.items()
                                  if v is not None and v != "")
        return url

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                retry: bool | None = None) -> requests.Response:
        url = self.url(path, params)
        retry = method == "GET" if retry is None else retry
        attempts = self.read_attempts if retry else 1
        data = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else None
        attempt = 0
        while True:
            attempt += 1
            with self.slots:
                try:
                    response = self.session.request(method, url, data=data, headers=headers)
                except requests.RequestException as exc:
                    if attempt >= attempts:
                        raise RetryableError(f"1C {method} {self._where(url)}: {type(exc).__name__}") from exc
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
            status = response.status_code
            if status >= 500:
                if attempt >= attempts:
                    busy = " (the publication's session pool is full)" if status == 503 else ""
                    raise RetryableError(f"1C {method} {self._where(url)}: HTTP {status}{busy} "
                                         f"after {attempt} attempt(s): {error_text(response)}", retry_after=5)
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if status == 401:
                login = (self.backend.credentials or {}).get("login", "")
                raise PermanentError(f"1C refused the login {login!r} (HTTP 401): check the user and password",
                                     status=401)
            if status >= 400:
                raise PermanentError(f"1C {method} {self._where(url)}: {error_text(response)}", status=status)
            return response

    @staticmethod
    def _where(url: str) -> str:
        path = urlsplit(url).path
        return path.split(ODATA_PATH, 1)[-1] or path

    def get(self, path: str, params: dict | None = None) -> Any:
        response = self.request("GET", path, params={**(params or {}), "$format": NOMETADATA})
        return orjson.loads(response.content)

    def metadata(self) -> str:
        return self.request("GET", "$metadata").content.decode("utf-8")

    # ------------------------------------------------------------------ reads
    def query(self, path: str, *, select: Sequence[str] = (), filter: str = "", orderby: str = "",
             top: int | None = None, skip: int = 0) -> list[dict]:
        params = {"$select": ",".join(select), "$filter": filter, "$orderby": orderby,
                  "$top": top, "$skip": skip or None}
        return self.get(path, params).get("value") or []

    def iter_pages(self, path: str, *, select: Sequence[str] = (), filter: str = "",
                   orderby: str = "Ref_Key") -> Iterator[list[dict]]:
        """Every row page by page (`$top/$skip`, stable order), up to pool-size pages fetched in parallel.

        The first page also asks `$inlinecount=allpages` for the total, so the rest can be fetched side by side;
        a page shorter than `page_size` ends the listing either way.
        """
        size = self.page_size
        params = {"$select": ",".join(select), "$filter": filter, "$orderby": orderby, "$top": size}
        first = self.get(path, {**params, "$inlinecount": "allpages"})
        rows = first.get("value") or []
        yield rows
        total = int(first.get("odata.count") or 0)
        if len(rows) < size:
            return
        skips = list(range(size, max(total, size + 1), size)) if total else []

        def fetch(skip: int) -> list[dict]:
            return self.get(path, {**params, "$skip": skip}).get("value") or []

        if total:
            yield from self.map_ordered(fetch, skips)
            return
        skip = size  # no count: page until a short page
        while True:
            page = self.get(path, {**params, "$skip": skip}).get("value") or []
            yield page
            if len(page) < size:
                return
            skip += size

    def map_ordered(self, fn: Callable[[Any], T], items: Sequence[Any]) -> Iterator[T]:
        """fn over items with ≤ pool-size threads, results in order, at most that many ahead of the caller.

        A worker keeps the database connection the journal opens in it for the whole listing (one per page
        cost a PostgreSQL backend start each); they are closed when the listing ends.
        """
        if len(items) <= 1 or self.pool_size == 1:
            yield from (fn(item) for item in items)
            return
        workers = min(self.pool_size, len(items))
        opened: dict[int, BaseDatabaseWrapper] = {}

        def run(item: Any) -> T:
            try:
                return fn(item)
            finally:
                opened[threading.get_ident()] = connections[DEFAULT_DB_ALIAS]

        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="onec") as pool:
                pending = [pool.submit(run, item) for item in items[:workers]]
                queued = workers
                while pending:
                    result = pending.pop(0).result()
                    if queued < len(items):
                        pending.append(pool.submit(run, items[queued]))
                        queued += 1
                    yield result
        finally:
            for wrapper in opened.values():  # the workers are gone: closed from here, as Django allows
                wrapper.inc_thread_sharing()
                try:
                    wrapper.close()
                finally:
                    wrapper.dec_thread_sharing()

    def by_keys(self, path: str, keys: Iterable[str], *, field: str = "Ref_Key", select: Sequence[str] = (),
                extra_filter: str = "") -> list[dict]:
        """Rows whose `field` is one of `keys`, ≤ key_batch keys a request; a failing batch is halved."""
        unique = [k for k in dict.fromkeys(keys) if k and k != EMPTY_REF]
        out: list[dict] = []
        for start in range(0, len(unique), self.key_batch):
            out += self._batch(path, unique[start:start + self.key_batch], field, select, extra_filter)
        return out

    def _batch(self, path: str, keys: list[str], field: str, select: Sequence[str], extra: str) -> list[dict]:
        condition = any_of(field, keys)
        if extra:
            condition = f"({condition}) and ({extra})"
        try:
            return self.query(path, select=select, filter=condition)
        except (PermanentError, RetryableError) as exc:
            if len(keys) == 1 or getattr(exc, "status", None) in (401, 403, 404):
                raise
            half = len(keys) // 2
            return (self._batch(path, keys[:half], field, select, extra)
                    + self._batch(path, keys[half:], field, select, extra))

    # ------------------------------------------------------------------ writes
    def create(self, entity_set: str, body: dict) -> dict:
        response = self.request("POST", entity_set, params={"$format": NOMETADATA}, json=body)
        if response.status_code != 201:
            raise PermanentError(f"1C POST {entity_set} answered {response.status_code}, expected 201")
        return orjson.loads(response.content)

    def update(self, entity_set: str, key: str, body: dict) -> dict:
        # PATCH of the same fields is idempotent: safe to repeat after a lost response.
        response = self.request("PATCH", f"{entity_set}({guid(key)})", params={"$format": NOMETADATA}, json=body,
                                retry=True)
        return orjson.loads(response.content)

    def post_document(self, entity_set: str, key: str) -> None:
        # Posting again re-writes the same movements: repeating it is harmless.
        self.request("POST", f"{entity_set}({guid(key)})/Post", params={"PostingModeOperational": "false"},
                     retry=True)

    def unpost_document(self, entity_set: str, key: str) -> None:
        self.request("POST", f"{entity_set}({guid(key)})/Unpost", retry=True)
