"""A thin amoCRM API v4 client over integration.http: tokens, the shared rate limit, paging, batches, errors.

Retry matrix (reference §2, §8, §11):
- 429 → nothing was applied: wait (the body's retry_after, at least one pacing period) and send again, reads and
  writes alike, up to `max_429_retries`; then RateLimited.
- 401 → refresh the token once (rotation under a row lock) and send again; a long-lived token or a second 401
  pauses the backend with an alert (BackendSuspended).
- 402 (subscription ended) and 403 (account/IP blocked) → pause the backend with an alert (BackendSuspended).
- Network errors and 5xx → reads are retried a couple of times; writes never are (AmbiguousWrite: the caller
  re-reads and decides).
- 400 with validation-errors → ValidationFailed {request_id: errors}; other 4xx → ApiError.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
from django.utils.translation import gettext as _

from integration.amocrm import tokens as token_store
from integration.amocrm.alerts import suspend_backend
from integration.amocrm.errors import AmbiguousWrite, ApiError, RateLimited, ValidationFailed
from integration.amocrm.ratelimit import Answered, Grant, Limiter, limiter_for
from integration.errors import BackendPaused, BudgetSpent, RetryableError
from integration.http import build_session, refuse_foreign, same_origin
from integration.models import Backend
from integration.ratelimit import max_wait
from integration.remembered import remembered

logger = logging.getLogger(__name__)
DRIVE_URL_TTL = 3600.0

MAX_BATCH = 250
DEFAULT_BATCH = 50  # amoCRM recommends ≤ 50 entities per write
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WhileWaiting = Callable[[float], bool]


@dataclass
class ClientStats:
    requests: int = 0
    http_429: int = 0
    refreshes: int = 0
    waited_seconds: float = 0.0


@dataclass
class BatchResult:
    """A batch write: the answer item per request_id, and the items amoCRM rejected with their errors."""

    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class AmoCrmClient:
    def __init__(self, backend: Backend, *, session: requests.Session | None = None, limiter: Limiter | None = None,
                 batch_size: int | None = None, max_429_retries: int = 8, read_retries: int = 2):
        self.backend = backend
        self.session = session or build_session(backend)
        self.limiter = limiter or limiter_for(backend)
        size = int(batch_size or backend.settings.get("batch_size") or DEFAULT_BATCH)
        self.batch_size = max(1, min(size, MAX_BATCH))
        self.max_429_retries = max_429_retries
        self.read_retries = read_retries
        self.stats = ClientStats()
        self._drive_url: str | None = None
        # A client sending request after request (the catalog push) settles each answer with its next grant: one
        # round trip to the shared window a request instead of two. Others settle at once (a relay delivery's
        # client sends one request: its slot would otherwise stay held 1.15 s from its grant).
        self.settle_with_next_grant = False
        self._answered: tuple[Grant, float] | None = None  # the last request's grant and answer (monotonic time)

    # --- the one request path ----------------------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.backend.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                data: bytes | None = None, headers: dict[str, str] | None = None,
                while_waiting: WhileWaiting | None = None) -> requests.Response:
        """One request through the account's budget. `while_waiting(seconds)`: called instead of sleeping when the
        budget makes the request wait — it does some other work (shorter than `seconds`) and returns True, or
        returns False and the request waits for its turn."""
        method = method.upper()
        write = method in WRITE_METHODS
        url = self.url(path)
        refreshed = False
        limited = 0
        failures = 0
        # UTF-8 rather than \u escapes: Cyrillic names make bodies a third of the size.
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode() if json is not None else None
        while True:
            if self.backend.paused:
                raise BackendPaused(self.backend.name)
            tokens = token_store.current_tokens(self.backend)
            if tokens.expiring() and not refreshed:
                tokens = self._refresh(tokens.access_token)
                refreshed = True
            # The first request of a deferrable delivery does not queue behind a spent budget (see ratelimit).
            grant = self._take(None if self.stats.requests else max_wait(), while_waiting)
            self.stats.waited_seconds += grant.waited
            self.stats.requests += 1
            request_headers = {"Authorization": f"Bearer {tokens.access_token}", **(headers or {})}
            if body is not None:
                request_headers["Content-Type"] = "application/json"
            try:
                response = self.session.request(method, url, params=params, data=body if body is not None else data,
                                                headers=request_headers)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._settle(grant)  # if it arrived at all, it was before now
                if write:
                    raise AmbiguousWrite(f"{method} {path}: {type(exc).__name__}; the write may have been "
                                         "applied — re-read before trying again") from exc
                failures += 1
                if failures > self.read_retries:
                    raise RetryableError(f"GET {path}: {type(exc).__name__}") from exc
                time.sleep(0.2 * failures)
                continue
            self._settle(grant)  # it was counted on arrival, before its answer: its slot is held from now
            status = response.status_code
            if status == 429:
                self.stats.http_429 += 1
                limited += 1
                retry_after = _retry_after(response)
                if limited > self.max_429_retries:
                    raise RateLimited(f"{method} {path}: 429 after {limited} tries", retry_after=retry_after)
                time.sleep(min(max(retry_after or 0.0, 1.05), 30.0))
                continue
            if status == 401:
                if tokens.long_lived or refreshed:
                    raise suspend_backend(self.backend, "unauthorized", _(
                        "amoCRM answers 401 Unauthorized to %(name)s even with a fresh token: the integration was "
                        "disabled in amoCRM or its rights were withdrawn. Connect the account again, then resume "
                        "the backend.") % {"name": self.backend.name})
                self._refresh(tokens.access_token)
                refreshed = True
                continue
            if status == 402:
                raise suspend_backend(self.backend, "payment-required", _(
                    "amoCRM answers 402 Payment Required to %(name)s: the account's subscription has ended (writes "
                    "are blocked at once, reads after 30 days). Renew it, then resume the backend.")
                    % {"name": self.backend.name})
            if status == 403:
                raise suspend_backend(self.backend, "blocked", _(
                    "amoCRM answers 403 Forbidden to %(name)s: the account or our IP address is blocked (too many "
                    "requests, or an IP whitelist). Write to amoCRM support with the IP and the subdomain, then "
                    "resume the backend.") % {"name": self.backend.name})
            if status >= 500:
                if write:
                    raise AmbiguousWrite(f"{method} {path}: HTTP {status}; re-read before trying again")
                failures += 1
                if failures > self.read_retries:
                    raise RetryableError(f"GET {path}: HTTP {status}")
                time.sleep(0.2 * failures)
                continue
            if status >= 400:
                raise _client_error(response)
            return response

    def _settle(self, grant: Grant) -> None:
        if self.settle_with_next_grant:
            self._answered = (grant, time.monotonic())
        else:
            self.limiter.settle(grant)

    def _take(self, limit: float | None, while_waiting: WhileWaiting | None) -> Grant:
        answered = None
        if self._answered is not None:
            grant, at = self._answered
            answered, self._answered = Answered(grant, time.monotonic() - at), None
        while while_waiting is not None:
            try:
                return self.limiter.take(0.0, answered)
            except BudgetSpent as spent:
                answered = None  # settled all the same
                wait = float(spent.retry_after or 0.0)
                if (limit is not None and wait > limit) or not while_waiting(wait):
                    break
        return self.limiter.take(limit, answered)

    def _refresh(self, stale_access_token: str) -> token_store.Tokens:
        self.stats.refreshes += 1
        return token_store.refresh_access_token(self.backend, stale_access_token, session=self.session)

    # --- reads -------------------------------------------------------------------------------------
    def get(self, path: str, params: dict | None = None) -> dict[str, Any] | None:
        """One GET; None for 204 (nothing found)."""
        response = self.request("GET", path, params=params)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def paginate(self, path: str, key: str, params: dict | None = None, *, limit: int = MAX_BATCH
                 ) -> Iterator[dict[str, Any]]:
        """Every item of a list, following `_links.next` (on the account's host only: ForeignHost otherwise);
        204 ends the list."""
        query = {**(params or {}), "limit": limit}
        page = self.get(path, query)
        while page:
            yield from page.get("_embedded", {}).get(key, [])
            next_href = page.get("_links", {}).get("next", {}).get("href")
            if not next_href:
                return
            next_url = urljoin(self.url(path), next_href)
            if not same_origin(next_url, self.backend.base_url):
                # The bearer token goes to the account's own host only, whatever an answer says.
                raise refuse_foreign(next_url, self.backend, "_links.next")
            page = self.get(next_url)

    # --- batch writes ------------------------------------------------------------------------------
    def write_batch(self, method: str, path: str, items: list[dict[str, Any]], key: str, *,
                    batch_size: int | None = None, while_waiting: WhileWaiting | None = None) -> BatchResult:
        """POST/PATCH `items` in chunks; each item carries a unique `request_id` (set here when missing).
        `while_waiting`: as for request().

        A 400 with validation-errors applies nothing: the rejected items are reported and the rest of the
        chunk is sent again. Answers are mapped back by request_id.
        """
        size = max(1, min(batch_size or self.batch_size, MAX_BATCH))
        prepared = []
        for index, item in enumerate(items):
            prepared.append(item if item.get("request_id") else {**item, "request_id": str(index)})
        result = BatchResult()
        for start in range(0, len(prepared), size):
            pending = prepared[start:start + size]
            while pending:
                try:
                    response = self.request(method, path, json=pending, while_waiting=while_waiting)
                except ValidationFailed as exc:
                    ids = {str(item["request_id"]) for item in pending}
                    bad = {rid: errs for rid, errs in exc.errors.items() if rid in ids}
                    if not bad:
                        raise
                    result.rejected.update(bad)
                    pending = [item for item in pending if str(item["request_id"]) not in bad]
                    continue
                body = response.json() if response.content else {}
                answered = body.get("_embedded", {}).get(key, []) if isinstance(body, dict) else body
                for position, answer in enumerate(answered):
                    request_id = str(answer.get("request_id") or pending[position]["request_id"])
                    result.applied[request_id] = answer
                pending = []
        return result

    # --- account, users, pipelines, custom fields --------------------------------------------------
    def account(self, *with_: str) -> dict[str, Any]:
        return self.get("/api/v4/account", {"with": ",".join(with_)} if with_ else None) or {}

    def drive_url(self) -> str:
        """The account's files host (`account?with=drive_url`), remembered per process: every upload needs it."""
        if self._drive_url is None:
            self._drive_url = remembered((self.backend.pk, self.backend.base_url, "drive_url"),
                                         lambda: str(self.account("drive_url")["drive_url"]).rstrip("/"),
                                         ttl=DRIVE_URL_TTL)
        return self._drive_url

    def users(self) -> list[dict[str, Any]]:
        return list(self.paginate("/api/v4/users", "users"))

    def pipelines(self) -> list[dict[str, Any]]:
        data = self.get("/api/v4/leads/pipelines") or {}
        return data.get("_embedded", {}).get("pipelines", [])

    def custom_fields(self, entity: str) -> list[dict[str, Any]]:
        """entity: leads | contacts | companies | catalogs/{id}."""
        return list(self.paginate(f"/api/v4/{entity}/custom_fields", "custom_fields"))

    def ensure_custom_fields(self, entity: str, specs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Fields by code, creating the missing ones (specs: {"code", "name", "type", …})."""
        existing = {f["code"]: f for f in self.custom_fields(entity) if f.get("code")}
        missing = [dict(spec) for spec in specs if spec["code"] not in existing]
        if missing:
            created = self.write_batch("POST", f"/api/v4/{entity}/custom_fields",
                                       [{**spec, "request_id": spec["code"]} for spec in missing], "custom_fields")
            if created.rejected:
                raise ApiError(f"custom fields of {entity} rejected: {created.rejected}", status=400)
            for answer in created.applied.values():
                existing[answer["code"]] = answer
        return existing

    # --- leads, contacts, companies ----------------------------------------------------------------
    def get_entity(self, entity: str, entity_id: int, *with_: str) -> dict[str, Any] | None:
        return self.get(f"/api/v4/{entity}/{int(entity_id)}", {"with": ",".join(with_)} if with_ else None)

    def get_lead(self, lead_id: int) -> dict[str, Any] | None:
        return self.get_entity("leads", lead_id, "contacts", "catalog_elements")

    def list_entities(self, entity: str, params: dict | None = None) -> Iterator[dict[str, Any]]:
        return self.paginate(f"/api/v4/{entity}", entity, params)

    def update_entity(self, entity: str, entity_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/api/v4/{entity}/{int(entity_id)}", json=payload).json()

    def links(self, entity: str, entity_id: int, **filters: Any) -> list[dict[str, Any]]:
        params = {f"filter[{k}]": v for k, v in filters.items()}
        return list(self.paginate(f"/api/v4/{entity}/{int(entity_id)}/links", "links", params))

    def link(self, entity: str, entity_id: int, links: list[dict[str, Any]]) -> None:
        for start in range(0, len(links), self.batch_size):
            self.request("POST", f"/api/v4/{entity}/{int(entity_id)}/link", json=links[start:start + self.batch_size])

    def unlink(self, entity: str, entity_id: int, links: list[dict[str, Any]]) -> None:
        for start in range(0, len(links), self.batch_size):
            self.request("POST", f"/api/v4/{entity}/{int(entity_id)}/unlink",
                         json=links[start:start + self.batch_size])

    # --- notes -------------------------------------------------------------------------------------
    def notes(self, entity: str, entity_id: int, note_type: str | None = None) -> list[dict[str, Any]]:
        params = {"filter[note_type]": note_type} if note_type else None
        return list(self.paginate(f"/api/v4/{entity}/{int(entity_id)}/notes", "notes", params))

    def add_note(self, entity: str, entity_id: int, note_type: str, params: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", f"/api/v4/{entity}/{int(entity_id)}/notes",
                                json=[{"note_type": note_type, "params": params}])
        return response.json()["_embedded"]["notes"][0]

    # --- catalogs ----------------------------------------------------------------------------------
    def catalogs(self) -> list[dict[str, Any]]:
        return list(self.paginate("/api/v4/catalogs", "catalogs"))

    def products_catalog_id(self) -> int:
        configured = self.backend.settings.get("products_catalog_id")
        if configured:
            return int(configured)
        for catalog in self.catalogs():
            if catalog.get("type") == "products":
                return int(catalog["id"])
        raise ApiError(_("The amoCRM account has no products catalog: enable «Товары» in the account settings."),
                       status=404)

    def elements(self, catalog_id: int, *, ids: Iterable[int] | None = None, query: str | None = None
                 ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {}
        if query:
            params["query"] = query
        if ids is not None:
            id_list = list(ids)
            for start in range(0, len(id_list), MAX_BATCH):
                chunk = {**params, "filter[id][]": id_list[start:start + MAX_BATCH]}
                yield from self.paginate(f"/api/v4/catalogs/{catalog_id}/elements", "elements", chunk)
            return
        yield from self.paginate(f"/api/v4/catalogs/{catalog_id}/elements", "elements", params)

    # --- files -------------------------------------------------------------------------------------
    def upload_file(self, name: str, content: bytes, content_type: str = "application/pdf") -> dict[str, Any]:
        """Upload through the drive (a session, then raw parts to upload_url / next_url); the file model."""
        session = self.request("POST", f"{self.drive_url()}/v1.0/sessions",
                               json={"file_name": name, "file_size": len(content),
                                     "content_type": content_type}).json()
        part_size = int(session.get("max_part_size") or 524288)
        url = session["upload_url"]
        answer: dict[str, Any] = {}
        for start in range(0, len(content), part_size):
            answer = self.request("POST", url, data=content[start:start + part_size],
                                  headers={"Content-Type": content_type}).json()
            url = answer.get("next_url") or url
        return answer

    def attach_files(self, lead_id: int, file_uuids: list[str]) -> None:
        self.request("PUT", f"/api/v4/leads/{int(lead_id)}/files", json=[{"file_uuid": u} for u in file_uuids])

    def lead_files(self, lead_id: int) -> list[str]:
        return [f["file_uuid"] for f in self.paginate(f"/api/v4/leads/{int(lead_id)}/files", "files")]

    # --- webhooks ----------------------------------------------------------------------------------
    def webhooks(self) -> list[dict[str, Any]]:
        data = self.get("/api/v4/webhooks") or {}
        return data.get("_embedded", {}).get("webhooks", [])

    def register_webhook(self, destination: str, settings: list[str], sort: int = 10) -> dict[str, Any]:
        return self.request("POST", "/api/v4/webhooks",
                            json={"destination": destination, "settings": settings, "sort": sort}).json()

    def delete_webhook(self, destination: str) -> None:
        self.request("DELETE", "/api/v4/webhooks", json={"destination": destination})


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header and header.replace(".", "", 1).isdigit():
        return float(header)
    try:
        value = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _client_error(response: requests.Response) -> Exception:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code == 400 and isinstance(body.get("validation-errors"), list):
        errors = {str(item.get("request_id")): list(item.get("errors") or []) for item in body["validation-errors"]}
        return ValidationFailed(errors)
    detail = str(body.get("detail") or body.get("title") or response.text[:300])
    return ApiError(detail, status=response.status_code, body=body)
