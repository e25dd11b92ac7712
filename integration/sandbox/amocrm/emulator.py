"""The amoCRM v4 emulator: OAuth, limits, HAL paging, leads/contacts/companies, catalogs, links, notes, files,
webhooks. Storage is in memory; every request runs under the emulator lock.

The rate window is per integration (client_id): every token of one integration shares it, as the account's
limit does, so a refresh does not reset it. A batch write with any invalid item is refused whole (400
validation-errors, nothing applied). People working in amoCRM are simulated by POST /_control/amocrm/as_manager
(any API call with a user's rights; their changes always emit webhooks).

Options (`--option k=v`): client_id, client_secret, redirect_uri, account_id, subdomain, rate_limit (7),
rate_window (1.0 s), retry_after (1, the body's `retry_after`), block_after (429s within block_window before every
request gets 403), block_window (10 s), block_seconds (30 s), echo_own_writes (false: writes made with our
integration's tokens emit no webhooks), relink ("update" | "error": linking an already linked element),
webhook_timeout (2 s), webhook_time_scale (1.0), webhook_autodeliver (true), access_lifetime (86400).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt

from integration.sandbox.amocrm import fields as cf
from integration.sandbox.amocrm.fields import FieldDef, FieldError
from integration.sandbox.amocrm.forms import as_list, parse_brackets
from integration.sandbox.amocrm.oauth import OAuthError, OAuthStore, TokenInfo
from integration.sandbox.amocrm.webhooks import EVENTS, Event, WebhookHub
from integration.sandbox.base import WRITE_METHODS, Emulator, Request, Response, empty_response, json_response

DEFAULT_CLIENT_ID = "9c1e8a0e-5a43-4f7e-9d1a-amoerp-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret-change-me-0123456789abcdef"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/hooks/amocrm/oauth/"
HAL = "application/hal+json"
PROBLEM = "application/problem+json"
MAX_BATCH = 250
MAIN_PIPELINE = 3177727
WON, LOST = 142, 143
ENTITY_TYPES = ("leads", "contacts", "companies")
LINK_TARGETS = {
    "leads": {"contacts", "companies", "catalog_elements"},
    "contacts": {"companies", "leads", "catalog_elements"},
    "companies": {"contacts", "leads", "catalog_elements"},
}
NOTE_TYPES = {"common": 4, "attachment": 5, "call_in": 10, "call_out": 11, "service_message": 25,
              "extended_service_message": 26, "message_cashier": 24, "geolocation": 102, "sms_in": 103,
              "sms_out": 104}
LEGACY_ELEMENT_TYPE = {"contacts": 1, "leads": 2, "companies": 3}
SINGULAR = {"leads": "lead", "contacts": "contact", "companies": "company"}
BLOCKED_HTML = (b"<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden"
                b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@dataclass(frozen=True)
class Actor:
    user_id: int
    client_id: str | None  # None: a person working in amoCRM itself
    emits_webhooks: bool


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.title, self.extra = status, detail, title, extra


TITLES = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 422: "Unprocessable Entity", 429: "Too Many Requests",
          500: "Internal Server Error"}


def problem(status: int, detail: str, title: str | None = None, **extra: Any) -> Response:
    body = {"title": title or TITLES.get(status, "Error"), "type": f"https://httpstatus.es/{status}",
            "status": status, "detail": detail, **extra}
    return json_response(body, status, content_type=PROBLEM)


def validation_failed(errors: list[tuple[str, list[FieldError]]]) -> Response:
    body = {"validation-errors": [{"request_id": rid, "errors": [e.as_dict() for e in errs]} for rid, errs in errors],
            "title": "Bad Request", "type": "https://httpstatus.es/400", "status": 400,
            "detail": "Request validation failed"}
    return json_response(body, 400, content_type=PROBLEM)


def request_id_of(item: Any, index: int) -> str:
    if isinstance(item, dict) and isinstance(item.get("request_id"), str | int) and item.get("request_id") != "":
        return str(item["request_id"])
    return str(index)


class AmoCrmEmulator(Emulator):
    name = "amocrm"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.options
        self.client_id = str(o.get("client_id", DEFAULT_CLIENT_ID))
        self.client_secret = str(o.get("client_secret", DEFAULT_CLIENT_SECRET))
        self.redirect_uri = str(o.get("redirect_uri", DEFAULT_REDIRECT_URI))
        self.account_id = int(o.get("account_id", 30441694))
        self.subdomain = str(o.get("subdomain", "demo"))
        self.settings: dict[str, Any] = {
            "rate_limit": int(o.get("rate_limit", 7)),
            "rate_window": float(o.get("rate_window", 1.0)),
            "retry_after": int(o.get("retry_after", 1)),
            "block_after": int(o.get("block_after", 100)),
            "block_window": float(o.get("block_window", 10.0)),
            "block_seconds": float(o.get("block_seconds", 30.0)),
            "echo_own_writes": bool(o.get("echo_own_writes", False)),
            "relink": str(o.get("relink", "update")),
            "subscription_expired": False,
            "webhook_time_scale": float(o.get("webhook_time_scale", 1.0)),
        }
        self.initial_settings = dict(self.settings)
        self.clock_offset = 0.0
        self.oauth = OAuthStore(client_id=self.client_id, client_secret=self.client_secret,
                                redirect_uri=self.redirect_uri, account_id=self.account_id, now=self.now,
                                domain=lambda: self.base_url.split("://", 1)[-1],
                                access_lifetime=int(o.get("access_lifetime", 86400)))
        self.hub = WebhookHub(now=self.now, account=self.account_payload,
                              timeout=float(o.get("webhook_timeout", 2.0)),
                              time_scale=float(o.get("webhook_time_scale", 1.0)),
                              autodeliver=bool(o.get("webhook_autodeliver", True)),
                              disable_after=int(o.get("webhook_disable_after", 100)))
        self._local = threading.local()
        self._register_routes()
        self.reset()

    # ================================================================================================
    # state
    # ================================================================================================
    def now(self) -> float:
        return time.time() + self.clock_offset

    def reset(self) -> None:
        with self.lock:
            self.oauth.reset()
            self.hub.reset()
            self.clock_offset = 0.0
            self.settings = dict(self.initial_settings)
            self.hub.time_scale = float(self.settings["webhook_time_scale"])
            self.ids: dict[str, int] = {"leads": 10185150, "contacts": 19663150, "companies": 19663100,
                                        "elements": 525400, "notes": 76787980, "fields": 271200,
                                        "catalogs": 4520, "files": 1}
            self.users: dict[int, dict[str, Any]] = {}
            self.pipelines: dict[int, dict[str, Any]] = {}
            self.statuses: dict[int, dict[int, dict[str, Any]]] = {}
            self.fields: dict[str, dict[int, FieldDef]] = {"leads": {}, "contacts": {}, "companies": {}}
            self.entities: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in ENTITY_TYPES}
            self.catalogs: dict[int, dict[str, Any]] = {}
            self.elements: dict[int, dict[int, dict[str, Any]]] = {}
            self.links: dict[tuple[str, int], list[dict[str, Any]]] = {}
            self.notes: dict[int, dict[str, Any]] = {}
            self.sessions: dict[str, dict[str, Any]] = {}
            self.files: dict[str, dict[str, Any]] = {}
            self.entity_files: dict[tuple[str, int], list[str]] = {}
            self.windows: dict[str, deque[float]] = {}
            self.violations: dict[str, deque[float]] = {}
            self.blocked_until: dict[str, float] = {}
            self.counters: Counter[str] = Counter()
            self._base_state()

    def _next(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def _base_state(self) -> None:
        """What every account has: users, the main pipeline, predefined fields, the products catalog."""
        for user_id, name, email, is_admin in [
            (1001, "Анна Смирнова", "anna@example.ru", False),
            (1002, "Игорь Петров", "igor@example.ru", True),
        ]:
            self.users[user_id] = {"id": user_id, "name": name, "email": email, "lang": "ru",
                                   "rights": {"is_admin": is_admin, "is_free": False, "is_active": True,
                                              "leads": {"view": "A", "edit": "A", "add": "A", "delete": "A"}}}
        self.pipelines[MAIN_PIPELINE] = {"id": MAIN_PIPELINE, "name": "Продажи", "sort": 1, "is_main": True,
                                         "is_unsorted_on": True, "is_archive": False, "account_id": self.account_id}
        statuses = [(3177728, "Неразобранное", 10, 1, "#c1c1c1"), (3177729, "Новая заявка", 20, 0, "#99ccff"),
                    (3177730, "Согласование", 30, 0, "#ffff99"), (3177731, "Счёт выставлен", 40, 0, "#ffcc66"),
                    (3177732, "Оплачен", 50, 0, "#ccff66"), (3177733, "Отгружен", 60, 0, "#87f2c0"),
                    (WON, "Успешно реализовано", 10000, 0, "#CCFF66"),
                    (LOST, "Закрыто и не реализовано", 11000, 0, "#D5D8DB")]
        self.statuses[MAIN_PIPELINE] = {
            sid: {"id": sid, "name": name, "sort": sort, "is_editable": sid not in (WON, LOST) and kind == 0,
                  "pipeline_id": MAIN_PIPELINE, "color": color, "type": kind, "account_id": self.account_id}
            for sid, name, sort, kind, color in statuses}
        phone_enums = [{"value": code, "code": code} for code in cf.PHONE_ENUMS]
        email_enums = [{"value": code, "code": code} for code in cf.EMAIL_ENUMS]
        for entity in ("contacts", "companies"):
            self._add_field(entity, "Телефон", "multitext", code="PHONE", enums=phone_enums, predefined=True)
            self._add_field(entity, "Email", "multitext", code="EMAIL", enums=email_enums, predefined=True)
        self._add_field("contacts", "Должность", "text", code="POSITION", predefined=True)
        self._add_field("companies", "Web", "url", code="WEB", predefined=True)
        self._add_field("companies", "Адрес", "textarea", code="ADDRESS", predefined=True)
        catalog = self._create_catalog("Товары", "products")
        key = f"catalogs:{catalog['id']}"
        self._add_field(key, "Артикул", "text", code="SKU", predefined=True)
        self._add_field(key, "Описание", "textarea", code="DESCRIPTION", predefined=True)
        self._add_field(key, "Цена", "price", code="PRICE", predefined=True)
        self._add_field(key, "Группа", "category", code="GROUP", predefined=True, enums=[])
        self._add_field(key, "Внешний ID", "text", code="EXTERNAL_ID", predefined=True)

    def _add_field(self, entity: str, name: str, type_: str, *, code: str | None = None, sort: int = 500,
                   enums: list[dict[str, Any]] | None = None, predefined: bool = False) -> FieldDef:
        catalog_id = int(entity.split(":", 1)[1]) if entity.startswith("catalogs:") else None
        enum_list = []
        for index, enum in enumerate(enums or []):
            enum_list.append({"id": self._next("fields"), "value": enum["value"], "sort": enum.get("sort", index + 1),
                              **({"code": enum["code"]} if enum.get("code") else {})})
        definition = FieldDef(id=self._next("fields"), name=name, type=type_, code=code, sort=sort,
                              entity_type="catalogs" if catalog_id else entity, is_predefined=predefined,
                              is_deletable=not predefined, catalog_id=catalog_id, enums=enum_list)
        self.fields.setdefault(entity, {})[definition.id] = definition
        return definition

    def _create_catalog(self, name: str, type_: str) -> dict[str, Any]:
        catalog_id = self._next("catalogs")
        catalog = {"id": catalog_id, "name": name, "created_by": 1002, "updated_by": 1002,
                   "created_at": int(self.now()), "updated_at": int(self.now()), "sort": 10, "type": type_,
                   "can_add_elements": True, "can_show_in_cards": True, "can_link_multiple": True,
                   "can_be_deleted": type_ == "regular", "sdk_widget_code": None, "account_id": self.account_id}
        self.catalogs[catalog_id] = catalog
        self.elements[catalog_id] = {}
        self.fields[f"catalogs:{catalog_id}"] = {}
        return catalog

    def products_catalog_id(self) -> int:
        return next(c["id"] for c in self.catalogs.values() if c["type"] == "products")

    def account_payload(self) -> dict[str, Any]:
        return {"id": self.account_id, "name": "Демо-компания", "subdomain": self.subdomain,
                "current_user_id": 1002, "country": "RU", "currency": "RUB", "currency_symbol": "₽",
                "customers_mode": "disabled", "is_unsorted_on": True, "mobile_feature_version": 0,
                "is_loss_reason_enabled": True, "is_helpbot_enabled": False, "is_technical_account": False,
                "contact_name_display_order": 1,
                "_links": {"self": {"href": f"{self.base_url}/api/v4/account"}}}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counters": dict(self.counters),
                "oauth": dict(self.oauth.counters),
                "webhooks": dict(self.hub.counters),
                "entities": {t: len(v) for t, v in self.entities.items()},
                "elements": sum(len(v) for v in self.elements.values()),
                "notes": len(self.notes),
                "files": len(self.files),
            }

    # ================================================================================================
    # the request pipeline: auth → block → rate limit → 402 → route → webhooks
    # ================================================================================================
    def handle(self, request: Request) -> Response:
        if request.path.startswith("/oauth2/"):
            response = self.router.dispatch(request) or self.not_found(request)
        elif request.path.startswith(("/api/v4/", "/drive/")):
            response = self._api(request)
        else:
            response = self.not_found(request)
        response.headers.setdefault("X-Request-Id", uuid.uuid4().hex)
        return response

    def not_found(self, request: Request) -> Response:
        return problem(404, f"Cannot {request.method} {self.base_url}{request.path}")

    def _authenticate(self, request: Request) -> TokenInfo | None:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.oauth.authenticate(token.strip())

    def _api(self, request: Request) -> Response:
        with self.lock:
            self.counters["api_requests"] += 1
            info = self._authenticate(request)
            if info is None:
                self.counters["http_401"] += 1
                return problem(401, "Invalid user name or password")
            key = info.client_id
            now = self.now()
            if self.blocked_until.get(key, 0) > now:
                self.counters["http_403"] += 1
                return Response(403, BLOCKED_HTML, {"Content-Type": "text/html"})
            limited = self._over_rate(key, now)
            if limited is not None:
                return limited
            if self.settings["subscription_expired"] and request.method in WRITE_METHODS:
                self.counters["http_402"] += 1
                return problem(402, "Payment required")
            user = self.users.get(info.user_id, {})
            actor = Actor(user_id=info.user_id, client_id=info.client_id,
                          emits_webhooks=info.client_id != self.client_id or self.settings["echo_own_writes"])
            return self._dispatch_as(actor, request, is_admin=bool(user.get("rights", {}).get("is_admin")))

    def _over_rate(self, key: str, now: float) -> Response | None:
        window = self.windows.setdefault(key, deque())
        while window and window[0] <= now - self.settings["rate_window"]:
            window.popleft()
        if len(window) < self.settings["rate_limit"]:
            window.append(now)
            return None
        self.counters["http_429"] += 1
        violations = self.violations.setdefault(key, deque())
        violations.append(now)
        while violations and violations[0] <= now - self.settings["block_window"]:
            violations.popleft()
        if len(violations) > self.settings["block_after"]:
            self.blocked_until[key] = now + self.settings["block_seconds"]
            self.counters["blocks"] += 1
        return problem(429, "You have sent too many requests in a given amount of time. Please try again later.",
                       retry_after=self.settings["retry_after"])

    def _dispatch_as(self, actor: Actor, request: Request, *, is_admin: bool) -> Response:
        self._local.actor = actor
        self._local.is_admin = is_admin
        self._local.events = []
        try:
            try:
                response = self.router.dispatch(request)
            except ApiProblem as exc:
                response = problem(exc.status, exc.detail, exc.title, **exc.extra)
            if response is None:
                return self.not_found(request)
            if response.status < 300 and request.method in WRITE_METHODS:
                self.counters["writes"] += 1
                if actor.emits_webhooks:
                    self.hub.emit(self._local.events)
            return response
        finally:
            self._local.events = []

    @property
    def actor(self) -> Actor:
        return self._local.actor

    def event(self, setting: str, section: str, action: str, data: dict[str, Any]) -> None:
        self._local.events.append(Event(setting=setting, section=section, action=action, data=data))

    # ================================================================================================
    # helpers
    # ================================================================================================
    def hal(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status, content_type=HAL)

    def link(self, path: str) -> dict[str, Any]:
        return {"self": {"href": f"{self.base_url}{path}"}}

    def batch(self, request: Request, *, allow_object: bool = False) -> list[Any]:
        body = request.json()
        if allow_object and isinstance(body, dict):
            return [body]
        if not isinstance(body, list):
            raise ApiProblem(400, "Request data should be an array")
        if not body:
            raise ApiProblem(400, "Request data can not be empty")
        if len(body) > MAX_BATCH:
            raise ApiProblem(422, "Limit 250 per page")
        self.counters["items_written"] += len(body)
        return body

    def page(self, request: Request, items: list[dict[str, Any]], key: str, path: str,
             render: Callable[[dict[str, Any]], dict[str, Any]], *, totals: bool = False) -> Response:
        try:
            limit = int(request.arg("limit") or 50)
            page = int(request.arg("page") or 1)
        except ValueError as exc:
            raise ApiProblem(400, "limit and page must be integers") from exc
        if limit > MAX_BATCH:
            raise ApiProblem(422, "Limit 250 per page")
        limit = max(limit, 1)
        page = max(page, 1)
        chunk = items[(page - 1) * limit: page * limit]
        if not chunk:
            return empty_response(204)
        params = [(k, v) for k, values in request.query.items() for v in values if k != "page"]

        def href(number: int) -> dict[str, str]:
            return {"href": f"{self.base_url}{path}?{urlencode(params + [('page', str(number))])}"}

        links = {"self": href(page)}
        if page * limit < len(items):
            links["next"] = href(page + 1)
        links["first"] = href(1)
        if page > 1:
            links["prev"] = href(page - 1)
        body: dict[str, Any] = {"_page": page, "_links": links, "_embedded": {key: [render(i) for i in chunk]}}
        if totals:
            body["_total_items"] = len(items)
            body["_page_count"] = -(-len(items) // limit)
        return self.hal(body)

    def with_args(self, request: Request) -> set[str]:
        return {w.strip() for w in (request.arg("with") or "").split(",") if w.strip()}

    def filtered(self, request: Request, items: list[dict[str, Any]], *, search: Callable[[dict, str], bool] | None
                 = None) -> list[dict[str, Any]]:
        args = parse_brackets(request.raw_query)
        flt = args.get("filter") or {}
        if not isinstance(flt, dict):
            flt = {}
        if "id" in flt:
            wanted = {int(v) for v in as_list(flt["id"]) if str(v).isdigit()}
            items = [i for i in items if i["id"] in wanted]
        for name in ("updated_at", "created_at"):
            if name in flt:
                bound = flt[name]
                if isinstance(bound, dict):
                    if bound.get("from"):
                        items = [i for i in items if i.get(name, 0) >= int(bound["from"])]
                    if bound.get("to"):
                        items = [i for i in items if i.get(name, 0) <= int(bound["to"])]
                elif str(bound).isdigit():
                    items = [i for i in items if i.get(name) == int(bound)]
        if "pipeline_id" in flt:
            wanted = {int(v) for v in as_list(flt["pipeline_id"])}
            items = [i for i in items if i.get("pipeline_id") in wanted]
        if "responsible_user_id" in flt:
            wanted = {int(v) for v in as_list(flt["responsible_user_id"])}
            items = [i for i in items if i.get("responsible_user_id") in wanted]
        if isinstance(flt.get("statuses"), dict | list):
            pairs = flt["statuses"].values() if isinstance(flt["statuses"], dict) else flt["statuses"]
            wanted_pairs = {(int(p["pipeline_id"]), int(p["status_id"])) for p in pairs if isinstance(p, dict)}
            items = [i for i in items if (i.get("pipeline_id"), i.get("status_id")) in wanted_pairs]
        query = (request.arg("query") or "").strip()
        if query and search is not None:
            items = [i for i in items if search(i, query)]
        order = args.get("order")
        if isinstance(order, dict) and order:
            field_name, direction = next(iter(order.items()))
            if field_name in {"id", "updated_at", "created_at"}:
                items = sorted(items, key=lambda i: (i.get(field_name) or 0, i["id"]),
                               reverse=str(direction).lower() == "desc")
        return items

    def int_id(self, value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    # ================================================================================================
    # routes
    # ================================================================================================
    def _register_routes(self) -> None:
        r = self.router.route
        e = "(?P<entity>leads|contacts|companies)"
        r("POST", "/oauth2/access_token")(self.token_endpoint)
        r("GET", "/oauth2/account/current/subdomain")(self.current_subdomain)
        r("GET", "/api/v4/account")(self.get_account)
        r("GET", "/api/v4/users")(self.list_users)
        r("GET", r"/api/v4/users/(?P<user_id>\d+)")(self.get_user)
        r("GET", "/api/v4/leads/pipelines")(self.list_pipelines)
        r("GET", r"/api/v4/leads/pipelines/(?P<pipeline_id>\d+)")(self.get_pipeline)
        r("GET", r"/api/v4/leads/pipelines/(?P<pipeline_id>\d+)/statuses")(self.list_statuses)
        r("GET", r"/api/v4/leads/pipelines/(?P<pipeline_id>\d+)/statuses/(?P<status_id>\d+)")(self.get_status)
        r("GET", f"/api/v4/{e}/custom_fields")(self.list_fields)
        r("POST", f"/api/v4/{e}/custom_fields")(self.create_fields)
        r("GET", rf"/api/v4/{e}/custom_fields/(?P<field_id>\d+)")(self.get_field)
        r("GET", r"/api/v4/catalogs/(?P<catalog_id>\d+)/custom_fields")(self.list_catalog_fields)
        r("POST", r"/api/v4/catalogs/(?P<catalog_id>\d+)/custom_fields")(self.create_catalog_fields)
        r("GET", r"/api/v4/catalogs/(?P<catalog_id>\d+)/custom_fields/(?P<field_id>\d+)")(self.get_catalog_field)
        r("GET", f"/api/v4/{e}/links")(self.list_mass_links)
        r("POST", f"/api/v4/{e}/link")(self.mass_link)
        r("POST", f"/api/v4/{e}/unlink")(self.mass_unlink)
        r("GET", f"/api/v4/{e}/notes")(self.list_notes)
        r("POST", f"/api/v4/{e}/notes")(self.create_notes)
        r("GET", rf"/api/v4/{e}/notes/(?P<note_id>\d+)")(self.get_note)
        r("GET", rf"/api/v4/{e}/(?P<entity_id>\d+)/notes")(self.list_notes)
        r("POST", rf"/api/v4/{e}/(?P<entity_id>\d+)/notes")(self.create_notes)
        r("GET", rf"/api/v4/{e}/(?P<entity_id>\d+)/links")(self.list_links)
        r("POST", rf"/api/v4/{e}/(?P<entity_id>\d+)/link")(self.link_entity)
        r("POST", rf"/api/v4/{e}/(?P<entity_id>\d+)/unlink")(self.unlink_entity)
        r("GET", r"/api/v4/leads/(?P<entity_id>\d+)/files")(self.list_entity_files)
        r("PUT", r"/api/v4/leads/(?P<entity_id>\d+)/files")(self.attach_files)
        r("DELETE", r"/api/v4/leads/(?P<entity_id>\d+)/files")(self.detach_files)
        r("GET", f"/api/v4/{e}")(self.list_entities)
        r("POST", f"/api/v4/{e}")(self.create_entities)
        r("PATCH", f"/api/v4/{e}")(self.update_entities)
        r("GET", rf"/api/v4/{e}/(?P<entity_id>\d+)")(self.get_entity)
        r("PATCH", rf"/api/v4/{e}/(?P<entity_id>\d+)")(self.update_entity)
        r("GET", "/api/v4/catalogs")(self.list_catalogs)
        r("POST", "/api/v4/catalogs")(self.create_catalogs)
        r("GET", r"/api/v4/catalogs/(?P<catalog_id>\d+)")(self.get_catalog)
        r("GET", r"/api/v4/catalogs/(?P<catalog_id>\d+)/elements")(self.list_elements)
        r("POST", r"/api/v4/catalogs/(?P<catalog_id>\d+)/elements")(self.create_elements)
        r("PATCH", r"/api/v4/catalogs/(?P<catalog_id>\d+)/elements")(self.update_elements)
        r("GET", r"/api/v4/catalogs/(?P<catalog_id>\d+)/elements/(?P<element_id>\d+)")(self.get_element)
        r("PATCH", r"/api/v4/catalogs/(?P<catalog_id>\d+)/elements/(?P<element_id>\d+)")(self.update_element)
        r("GET", "/api/v4/webhooks")(self.list_webhooks)
        r("POST", "/api/v4/webhooks")(self.register_webhook)
        r("DELETE", "/api/v4/webhooks")(self.delete_webhook)
        r("POST", "/drive/v1.0/sessions")(self.create_session)
        r("POST", r"/drive/v1.0/sessions/upload/(?P<token>[\w-]+)")(self.upload_part)
        r("GET", r"/drive/v1.0/files/(?P<file_uuid>[\w-]+)")(self.get_file)
        r("GET", r"/drive/download/(?P<file_uuid>[\w-]+)")(self.download_file)
        # control endpoints (never rate-limited or faulted)
        c = "/_control/amocrm"
        r("POST", f"{c}/oauth/code")(self.ctl_code)
        r("POST", f"{c}/long_lived_token")(self.ctl_long_lived)
        r("POST", f"{c}/revoke")(self.ctl_revoke)
        r("POST", f"{c}/clock")(self.ctl_clock)
        r("POST", f"{c}/settings")(self.ctl_settings)
        r("POST", f"{c}/block")(self.ctl_block)
        r("POST", f"{c}/widget_token")(self.ctl_widget_token)
        r("POST", f"{c}/as_manager")(self.ctl_as_manager)
        r("GET", f"{c}/dump")(self.ctl_dump)
        r("POST", f"{c}/webhooks/flush")(self.ctl_flush)
        r("GET", f"{c}/webhooks/deliveries")(self.ctl_deliveries)
        r("POST", f"{c}/webhooks/replay")(self.ctl_replay)

    # ================================================================================================
    # OAuth, account, users, pipelines
    # ================================================================================================
    def token_endpoint(self, request: Request) -> Response:
        with self.lock:
            try:
                payload = request.json()
            except ValueError:
                payload = None
            try:
                return json_response(self.oauth.exchange(payload))
            except OAuthError as exc:
                return json_response(exc.body(), exc.status, content_type=PROBLEM)

    def current_subdomain(self, request: Request) -> Response:
        with self.lock:
            token = self.oauth.refresh_tokens.get(request.header("x-refresh-token") or "")
            if token is None or token["status"] != "active":
                return problem(401, "Invalid refresh token")
            return json_response({"id": self.account_id, "subdomain": self.subdomain,
                                  "domain": self.base_url.split("://", 1)[-1], "top_level_domain": "ru"})

    def get_account(self, request: Request) -> Response:
        body = self.account_payload()
        extras = self.with_args(request)
        if "drive_url" in extras:
            body["drive_url"] = f"{self.base_url}/drive"
        if "is_api_filter_enabled" in extras:
            body["is_api_filter_enabled"] = False
        if "version" in extras:
            body["version"] = 18
        if "users_groups" in extras:
            body.setdefault("_embedded", {})["users_groups"] = [{"id": 0, "name": "Отдел продаж", "uuid": None}]
        return self.hal(body)

    def _user(self, user: dict[str, Any]) -> dict[str, Any]:
        return {**user, "_links": self.link(f"/api/v4/users/{user['id']}")}

    def list_users(self, request: Request) -> Response:
        return self.page(request, list(self.users.values()), "users", "/api/v4/users", self._user, totals=True)

    def get_user(self, request: Request, user_id: str) -> Response:
        user = self.users.get(int(user_id))
        return self.hal(self._user(user)) if user else empty_response(204)

    def _status(self, status: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/v4/leads/pipelines/{status['pipeline_id']}/statuses/{status['id']}"
        return {**status, "_links": self.link(path)}

    def _pipeline(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        statuses = sorted(self.statuses[pipeline["id"]].values(), key=lambda s: s["sort"])
        return {**pipeline, "_links": self.link(f"/api/v4/leads/pipelines/{pipeline['id']}"),
                "_embedded": {"statuses": [self._status(s) for s in statuses]}}

    def list_pipelines(self, request: Request) -> Response:
        pipelines = [self._pipeline(p) for p in self.pipelines.values()]
        return self.hal({"_total_items": len(pipelines), "_links": self.link("/api/v4/leads/pipelines"),
                         "_embedded": {"pipelines": pipelines}})

    def get_pipeline(self, request: Request, pipeline_id: str) -> Response:
        pipeline = self.pipelines.get(int(pipeline_id))
        return self.hal(self._pipeline(pipeline)) if pipeline else empty_response(204)

    def list_statuses(self, request: Request, pipeline_id: str) -> Response:
        statuses = self.statuses.get(int(pipeline_id))
        if not statuses:
            return empty_response(204)
        items = [self._status(s) for s in sorted(statuses.values(), key=lambda s: s["sort"])]
        return self.hal({"_total_items": len(items), "_embedded": {"statuses": items}})

    def get_status(self, request: Request, pipeline_id: str, status_id: str) -> Response:
        status = self.statuses.get(int(pipeline_id), {}).get(int(status_id))
        return self.hal(self._status(status)) if status else empty_response(204)

    # ================================================================================================
    # custom field definitions
    # ================================================================================================
    def _list_fields(self, request: Request, key: str, path: str) -> Response:
        defs = sorted(self.fields.get(key, {}).values(), key=lambda d: (d.sort, d.id))
        return self.page(request, [d.__dict__ for d in defs], "custom_fields", path,
                         lambda d: self.fields[key][d["id"]].as_dict(self.base_url), totals=True)

    def _create_fields(self, request: Request, key: str, entity: str) -> Response:
        if not self._local.is_admin:
            return problem(403, "Only an account administrator can create custom fields")
        items = self.batch(request)
        errors: list[tuple[str, list[FieldError]]] = []
        existing_codes = {d.code for d in self.fields[key].values() if d.code}
        for index, item in enumerate(items):
            item_errors = []
            if not isinstance(item, dict):
                errors.append((request_id_of(item, index), [FieldError("InvalidType", "", "Object expected")]))
                continue
            if not isinstance(item.get("name"), str) or not item["name"].strip():
                item_errors.append(FieldError("NotBlank", "name", "This value should not be blank."))
            type_ = item.get("type")
            allowed = cf.FIELD_TYPES if key.startswith("catalogs:") else cf.FIELD_TYPES - cf.CATALOG_ONLY
            if entity != "contacts" and entity != "companies":
                allowed = allowed - {"multitext"}
            if type_ not in allowed:
                item_errors.append(FieldError("NotSupportedChoice", "type",
                                              "The value you selected is not a valid choice."))
            code = item.get("code")
            if code and code in existing_codes:
                item_errors.append(FieldError("NotUnique", "code", "A field with this code already exists."))
            if type_ in cf.ENUM_TYPES - {"multitext", "category"} and not item.get("enums"):
                item_errors.append(FieldError("NotBlank", "enums", "Select fields need enums."))
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
            elif code:
                existing_codes.add(code)
        if errors:
            return validation_failed(errors)
        created = []
        for index, item in enumerate(items):
            definition = self._add_field(key, item["name"].strip(), item["type"], code=item.get("code"),
                                         sort=int(item.get("sort") or 500), enums=item.get("enums") or [])
            definition.is_api_only = bool(item.get("is_api_only"))
            created.append({**definition.as_dict(self.base_url), "request_id": request_id_of(item, index)})
        return self.hal({"_total_items": len(created), "_embedded": {"custom_fields": created}}, 201)

    def list_fields(self, request: Request, entity: str) -> Response:
        return self._list_fields(request, entity, f"/api/v4/{entity}/custom_fields")

    def create_fields(self, request: Request, entity: str) -> Response:
        return self._create_fields(request, entity, entity)

    def get_field(self, request: Request, entity: str, field_id: str) -> Response:
        definition = self.fields[entity].get(int(field_id))
        return self.hal(definition.as_dict(self.base_url)) if definition else empty_response(204)

    def _catalog_key(self, catalog_id: str) -> str:
        if int(catalog_id) not in self.catalogs:
            raise ApiProblem(404, f"Catalog {catalog_id} not found")
        return f"catalogs:{int(catalog_id)}"

    def list_catalog_fields(self, request: Request, catalog_id: str) -> Response:
        key = self._catalog_key(catalog_id)
        return self._list_fields(request, key, f"/api/v4/catalogs/{catalog_id}/custom_fields")

    def create_catalog_fields(self, request: Request, catalog_id: str) -> Response:
        return self._create_fields(request, self._catalog_key(catalog_id), "catalogs")

    def get_catalog_field(self, request: Request, catalog_id: str, field_id: str) -> Response:
        definition = self.fields[self._catalog_key(catalog_id)].get(int(field_id))
        return self.hal(definition.as_dict(self.base_url)) if definition else empty_response(204)

    # ================================================================================================
    # leads, contacts, companies
    # ================================================================================================
    def render_entity(self, entity: str, row: dict[str, Any], extras: set[str] = frozenset()) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k not in {"cf", "tags"}}
        out["custom_fields_values"] = cf.read_values(self.fields[entity], row["cf"])
        out["_links"] = self.link(f"/api/v4/{entity}/{row['id']}")
        embedded: dict[str, Any] = {"tags": [dict(t) for t in row["tags"]]}
        links = self.links.get((entity, row["id"]), [])
        if entity == "leads":
            embedded["companies"] = [{"id": lk["to_entity_id"], "_links": self.link(f"/api/v4/companies/{lk['to_entity_id']}")}
                                     for lk in links if lk["to_entity_type"] == "companies"]
            if "contacts" in extras:
                embedded["contacts"] = [{"id": lk["to_entity_id"], "is_main": bool(lk["metadata"].get("main_contact")),
                                         "_links": self.link(f"/api/v4/contacts/{lk['to_entity_id']}")}
                                        for lk in links if lk["to_entity_type"] == "contacts"]
            if "catalog_elements" in extras:
                embedded["catalog_elements"] = [{"id": lk["to_entity_id"], "metadata": dict(lk["metadata"])}
                                                for lk in links if lk["to_entity_type"] == "catalog_elements"]
        else:
            for target in ("contacts", "companies", "leads"):
                if target == entity:
                    continue
                related = [lk for lk in self._all_links(entity, row["id"]) if lk["to_entity_type"] == target]
                if target == "companies" or target in extras:
                    embedded[target] = [{"id": lk["to_entity_id"],
                                         "_links": self.link(f"/api/v4/{target}/{lk['to_entity_id']}")}
                                        for lk in related]
        out["_embedded"] = embedded
        return out

    def _search(self, entity: str) -> Callable[[dict, str], bool]:
        def matches(row: dict[str, Any], query: str) -> bool:
            needle = query.lower()
            digits = "".join(ch for ch in query if ch.isdigit())
            if needle in (row.get("name") or "").lower():
                return True
            for values in row["cf"].values():
                for value in values or []:
                    text = str(value.get("value", "")).lower()
                    if needle in text:
                        return True
                    if len(digits) >= 5 and digits[-10:] in "".join(ch for ch in text if ch.isdigit()):
                        return True
            return False
        return matches

    def list_entities(self, request: Request, entity: str) -> Response:
        rows = self.filtered(request, sorted(self.entities[entity].values(), key=lambda r: r["id"]),
                             search=self._search(entity))
        extras = self.with_args(request)
        return self.page(request, rows, entity, f"/api/v4/{entity}", lambda r: self.render_entity(entity, r, extras))

    def get_entity(self, request: Request, entity: str, entity_id: str) -> Response:
        row = self.entities[entity].get(int(entity_id))
        if row is None:
            return empty_response(204)
        return self.hal(self.render_entity(entity, row, self.with_args(request)))

    def _validate_entity(self, entity: str, item: Any, existing: dict[str, Any] | None
                         ) -> tuple[dict[str, Any], list[FieldError]]:
        """The changes an item asks for, or its errors; nothing is applied here."""
        errors: list[FieldError] = []
        changes: dict[str, Any] = {}
        if not isinstance(item, dict):
            return changes, [FieldError("InvalidType", "", "This value should be of type object.")]
        for name in ("name", "first_name", "last_name"):
            if name in item:
                if name != "name" and entity != "contacts":
                    continue
                if item[name] is not None and not isinstance(item[name], str):
                    errors.append(FieldError("InvalidType", name, "This value should be of type string."))
                else:
                    changes[name] = (item[name] or "").strip()
        int_fields = ["responsible_user_id", "created_by", "updated_by", "created_at", "updated_at"]
        if entity == "leads":
            int_fields += ["price", "status_id", "pipeline_id", "loss_reason_id", "closed_at"]
        for name in int_fields:
            if name in item and item[name] is not None:
                if isinstance(item[name], bool) or not isinstance(item[name], int):
                    errors.append(FieldError("InvalidType", name, "This value should be of type int."))
                else:
                    changes[name] = item[name]
        if "responsible_user_id" in changes and changes["responsible_user_id"] not in self.users:
            errors.append(FieldError("NotSupportedChoice", "responsible_user_id",
                                     "The value you selected is not a valid choice."))
        if entity == "leads" and ("status_id" in changes or "pipeline_id" in changes):
            pipeline_id = changes.get("pipeline_id") or (existing or {}).get("pipeline_id") or MAIN_PIPELINE
            if pipeline_id not in self.pipelines:
                errors.append(FieldError("NotSupportedChoice", "pipeline_id",
                                         "The value you selected is not a valid choice."))
            elif "status_id" in changes and changes["status_id"] not in self.statuses[pipeline_id]:
                errors.append(FieldError("NotSupportedChoice", "status_id",
                                         "The value you selected is not a valid choice."))
            elif "status_id" not in changes and existing and existing["status_id"] not in self.statuses[pipeline_id]:
                changes["status_id"] = self._first_status(pipeline_id)
            changes.setdefault("pipeline_id", pipeline_id)
        if entity == "leads" and "price" in changes and changes["price"] < 0:
            errors.append(FieldError("GreaterThanOrEqual", "price", "This value should be 0 or more."))
        if "custom_fields_values" in item:
            values, value_errors = cf.validate_values(self.fields[entity], item["custom_fields_values"])
            errors.extend(value_errors)
            changes["cf"] = values
        embedded = item.get("_embedded") if isinstance(item.get("_embedded"), dict) else {}
        for target in ("contacts", "companies"):
            if target == entity or not isinstance(embedded.get(target), list):
                continue
            refs = []
            for index, ref in enumerate(embedded[target]):
                ref_id = self.int_id(ref.get("id")) if isinstance(ref, dict) else None
                if ref_id not in self.entities[target]:
                    errors.append(FieldError("NotFound", f"_embedded.{target}.{index}.id", "Entity not found."))
                else:
                    refs.append((ref_id, bool(ref.get("is_main"))))
            changes[f"link_{target}"] = refs
        if isinstance(item.get("tags_to_add"), list):
            changes["tags_to_add"] = [t for t in item["tags_to_add"] if isinstance(t, dict)]
        if isinstance(item.get("tags_to_delete"), list):
            changes["tags_to_delete"] = [t for t in item["tags_to_delete"] if isinstance(t, dict)]
        return changes, errors

    def _first_status(self, pipeline_id: int) -> int:
        statuses = sorted((s for s in self.statuses[pipeline_id].values() if s["type"] == 0 and s["id"] not in (WON, LOST)),
                          key=lambda s: s["sort"])
        return statuses[0]["id"]

    def _apply(self, entity: str, row: dict[str, Any], changes: dict[str, Any], *, created: bool) -> None:
        old = {k: row.get(k) for k in ("status_id", "pipeline_id", "responsible_user_id")}
        for name in ("name", "first_name", "last_name", "responsible_user_id", "price", "status_id", "pipeline_id",
                     "loss_reason_id", "closed_at", "created_by", "created_at"):
            if name in changes and (created or name not in {"created_by", "created_at"}):
                row[name] = changes[name]
        if entity == "contacts" and "name" not in changes and ("first_name" in changes or "last_name" in changes):
            row["name"] = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
        for field_id, values in (changes.get("cf") or {}).items():
            if values is None:
                row["cf"].pop(field_id, None)
            else:
                row["cf"][field_id] = values
        for tag in changes.get("tags_to_add", []):
            if not any(t["name"] == tag.get("name") or t["id"] == tag.get("id") for t in row["tags"]):
                row["tags"].append({"id": tag.get("id") or self._next("fields"), "name": tag.get("name") or "",
                                    "color": None})
        for tag in changes.get("tags_to_delete", []):
            row["tags"] = [t for t in row["tags"] if t["name"] != tag.get("name") and t["id"] != tag.get("id")]
        for target in ("contacts", "companies"):
            for ref_id, is_main in changes.get(f"link_{target}", []):
                self._link(entity, row["id"], target, ref_id, {"main_contact": is_main} if target == "contacts" else {})
        now = int(self.now())
        row["updated_by"] = changes.get("updated_by", self.actor.user_id if self.actor.client_id is None else 0)
        row["updated_at"] = changes.get("updated_at") or max(now, row.get("updated_at") or 0)
        if entity == "leads" and row.get("status_id") in (WON, LOST) and not row.get("closed_at"):
            row["closed_at"] = now
        setting = SINGULAR[entity]
        if created:
            self._entity_event(entity, row, "add", f"add_{setting}")
            return
        self._entity_event(entity, row, "update", f"update_{setting}", old)
        if entity == "leads" and (old["status_id"] != row["status_id"] or old["pipeline_id"] != row["pipeline_id"]):
            self._entity_event(entity, row, "status", "status_lead", old)
        if old["responsible_user_id"] != row["responsible_user_id"]:
            self._entity_event(entity, row, "responsible", f"responsible_{setting}", old)

    def _new_row(self, entity: str) -> dict[str, Any]:
        now = int(self.now())
        row: dict[str, Any] = {"id": self._next(entity), "name": "", "responsible_user_id": self.actor.user_id,
                               "group_id": 0, "created_by": self.actor.user_id if self.actor.client_id is None else 0,
                               "updated_by": 0, "created_at": now, "updated_at": now, "closest_task_at": None,
                               "is_deleted": False, "cf": {}, "account_id": self.account_id, "tags": []}
        if entity == "leads":
            row.update(price=0, status_id=self._first_status(MAIN_PIPELINE), pipeline_id=MAIN_PIPELINE,
                       loss_reason_id=None, closed_at=None, score=None, labor_cost=None)
        elif entity == "contacts":
            row.update(first_name="", last_name="", is_unsorted=False)
        return row

    def create_entities(self, request: Request, entity: str) -> Response:
        items = self.batch(request)
        planned, errors = [], []
        for index, item in enumerate(items):
            changes, item_errors = self._validate_entity(entity, item, None)
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
            planned.append(changes)
        if errors:
            return validation_failed(errors)
        out = []
        for index, (item, changes) in enumerate(zip(items, planned, strict=True)):
            row = self._new_row(entity)
            self.entities[entity][row["id"]] = row
            if entity != "contacts" and not changes.get("name"):
                changes["name"] = f"{'Сделка' if entity == 'leads' else 'Компания'} #{row['id']}"
            self._apply(entity, row, changes, created=True)
            out.append({"id": row["id"], "request_id": request_id_of(item, index),
                        "_links": self.link(f"/api/v4/{entity}/{row['id']}")})
        return self.hal({"_links": self.link(f"/api/v4/{entity}"), "_embedded": {entity: out}})

    def update_entities(self, request: Request, entity: str) -> Response:
        items = self.batch(request)
        planned, errors = [], []
        for index, item in enumerate(items):
            row = self.entities[entity].get(self.int_id(item.get("id")) if isinstance(item, dict) else None)
            if row is None:
                errors.append((request_id_of(item, index), [FieldError("NotFound", "id", "Entity not found.")]))
                continue
            changes, item_errors = self._validate_entity(entity, item, row)
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
            planned.append((row, changes))
        if errors:
            return validation_failed(errors)
        out = []
        for index, (item, (row, changes)) in enumerate(zip(items, planned, strict=True)):
            self._apply(entity, row, changes, created=False)
            out.append({"id": row["id"], "updated_at": row["updated_at"], "request_id": request_id_of(item, index),
                        "_links": self.link(f"/api/v4/{entity}/{row['id']}")})
        return self.hal({"_links": self.link(f"/api/v4/{entity}"), "_embedded": {entity: out}})

    def update_entity(self, request: Request, entity: str, entity_id: str) -> Response:
        row = self.entities[entity].get(int(entity_id))
        item = request.json()
        if row is None:
            return problem(404, f"{entity} {entity_id} not found")
        changes, errors = self._validate_entity(entity, item, row)
        if errors:
            return validation_failed([("0", errors)])
        self._apply(entity, row, changes, created=False)
        return self.hal({"id": row["id"], "updated_at": row["updated_at"],
                         "_links": self.link(f"/api/v4/{entity}/{row['id']}")})

    # --- webhook bodies: the legacy v2 field names ----------------------------------------------------
    def _legacy_fields(self, entity: str, row: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for field_id, values in row["cf"].items():
            definition = self.fields[entity].get(field_id)
            if definition is None or not values:
                continue
            if definition.type in cf.DATE_TYPES:
                legacy_values: list[Any] = [v["value"] for v in values]
            else:
                legacy_values = [{"value": v["value"], **({"enum": v["enum_id"]} if v.get("enum_id") else {})}
                                 for v in values]
            item = {"id": field_id, "name": definition.name, "values": legacy_values}
            if definition.code:
                item["code"] = definition.code
            out.append(item)
        return out

    def legacy(self, entity: str, row: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": row["id"], "name": row.get("name") or "", "responsible_user_id": row["responsible_user_id"],
            "date_create": row["created_at"], "last_modified": row["updated_at"],
            "created_user_id": row["created_by"], "modified_user_id": row["updated_by"],
            "account_id": self.account_id, "created_at": row["created_at"], "updated_at": row["updated_at"],
        }
        if entity == "leads":
            data.update(status_id=row["status_id"], pipeline_id=row["pipeline_id"], price=row.get("price") or 0)
            if old is not None:
                data.update(old_status_id=old["status_id"], old_pipeline_id=old["pipeline_id"])
        else:
            data["type"] = SINGULAR[entity]
        if old is not None and old.get("responsible_user_id") != row["responsible_user_id"]:
            data["old_responsible_user_id"] = old["responsible_user_id"]
        if row["tags"]:
            data["tags"] = [{"id": t["id"], "name": t["name"]} for t in row["tags"]]
        custom = self._legacy_fields(entity, row)
        if custom:
            data["custom_fields"] = custom
        return data

    def _entity_event(self, entity: str, row: dict[str, Any], action: str, setting: str,
                      old: dict[str, Any] | None = None) -> None:
        section = "leads" if entity == "leads" else "contacts"
        self.event(setting, section, action, self.legacy(entity, row, old))

    def touch_lead(self, lead_id: int) -> None:
        """A product or contact link changed: the lead is updated (and says so in a webhook)."""
        row = self.entities["leads"].get(lead_id)
        if row is None:
            return
        old = {k: row.get(k) for k in ("status_id", "pipeline_id", "responsible_user_id")}
        row["updated_at"] = max(int(self.now()), row["updated_at"])
        row["updated_by"] = self.actor.user_id if self.actor.client_id is None else 0
        self._entity_event("leads", row, "update", "update_lead", old)

    # ================================================================================================
    # catalogs and elements
    # ================================================================================================
    def _catalog(self, catalog: dict[str, Any]) -> dict[str, Any]:
        return {**catalog, "_links": self.link(f"/api/v4/catalogs/{catalog['id']}")}

    def list_catalogs(self, request: Request) -> Response:
        catalogs = sorted(self.catalogs.values(), key=lambda c: c["id"])
        return self.page(request, catalogs, "catalogs", "/api/v4/catalogs", self._catalog)

    def get_catalog(self, request: Request, catalog_id: str) -> Response:
        catalog = self.catalogs.get(int(catalog_id))
        return self.hal(self._catalog(catalog)) if catalog else empty_response(204)

    def create_catalogs(self, request: Request) -> Response:
        items = self.batch(request)
        errors = []
        kinds = Counter(c["type"] for c in self.catalogs.values())
        for index, item in enumerate(items):
            item_errors = []
            if not isinstance(item, dict) or not str(item.get("name") or "").strip():
                item_errors.append(FieldError("NotBlank", "name", "This value should not be blank."))
            type_ = (item.get("type") if isinstance(item, dict) else None) or "regular"
            if type_ not in {"regular", "invoices", "products"}:
                item_errors.append(FieldError("NotSupportedChoice", "type", "The value you selected is not a valid choice."))
            elif type_ != "regular" and kinds[type_] >= 1:
                item_errors.append(FieldError("Limit", "type", f"Only one {type_} list is allowed."))
            kinds[type_] += 1
            if sum(kinds.values()) > 10:
                item_errors.append(FieldError("Limit", "", "No more than 10 lists per account."))
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
        if errors:
            return validation_failed(errors)
        out = []
        for index, item in enumerate(items):
            catalog = self._create_catalog(item["name"].strip(), item.get("type") or "regular")
            out.append({**self._catalog(catalog), "request_id": request_id_of(item, index)})
        return self.hal({"_embedded": {"catalogs": out}})

    def _elements_of(self, catalog_id: str) -> tuple[int, dict[int, dict[str, Any]]]:
        cid = int(catalog_id)
        if cid not in self.catalogs:
            raise ApiProblem(404, f"Catalog {catalog_id} not found")
        return cid, self.elements[cid]

    def render_element(self, element: dict[str, Any]) -> dict[str, Any]:
        key = f"catalogs:{element['catalog_id']}"
        out = {k: v for k, v in element.items() if k != "cf"}
        out["custom_fields_values"] = cf.read_values(self.fields[key], element["cf"])
        out["_links"] = self.link(f"/api/v4/catalogs/{element['catalog_id']}/elements/{element['id']}")
        return out

    def list_elements(self, request: Request, catalog_id: str) -> Response:
        cid, elements = self._elements_of(catalog_id)
        rows = self.filtered(request, sorted(elements.values(), key=lambda e: e["id"]),
                             search=self._search(f"catalogs:{cid}"))
        return self.page(request, rows, "elements", f"/api/v4/catalogs/{cid}/elements", self.render_element)

    def get_element(self, request: Request, catalog_id: str, element_id: str) -> Response:
        _, elements = self._elements_of(catalog_id)
        element = elements.get(int(element_id))
        return self.hal(self.render_element(element)) if element else empty_response(204)

    def _validate_element(self, cid: int, item: Any, creating: bool) -> tuple[dict[str, Any], list[FieldError]]:
        if not isinstance(item, dict):
            return {}, [FieldError("InvalidType", "", "This value should be of type object.")]
        errors, changes = [], {}
        if "name" in item or creating:
            if not isinstance(item.get("name"), str) or not item["name"].strip():
                errors.append(FieldError("NotBlank", "name", "This value should not be blank."))
            else:
                changes["name"] = item["name"].strip()
        if "custom_fields_values" in item:
            values, value_errors = cf.validate_values(self.fields[f"catalogs:{cid}"], item["custom_fields_values"])
            errors.extend(value_errors)
            changes["cf"] = values
        return changes, errors

    def _written_element(self, element: dict[str, Any], request_id: str) -> dict[str, Any]:
        """The answer item of an element write (the reference does not fix it; we answer compactly, as for
        leads: what a client needs to map the answer back)."""
        return {"id": element["id"], "name": element["name"], "catalog_id": element["catalog_id"],
                "updated_at": element["updated_at"], "request_id": request_id,
                "_links": self.link(f"/api/v4/catalogs/{element['catalog_id']}/elements/{element['id']}")}

    def _apply_element(self, element: dict[str, Any], changes: dict[str, Any]) -> None:
        if "name" in changes:
            element["name"] = changes["name"]
        for field_id, values in (changes.get("cf") or {}).items():
            if values is None:
                element["cf"].pop(field_id, None)
            else:
                element["cf"][field_id] = values
        element["updated_by"] = self.actor.user_id
        element["updated_at"] = max(int(self.now()), element.get("updated_at") or 0)

    def create_elements(self, request: Request, catalog_id: str) -> Response:
        cid, elements = self._elements_of(catalog_id)
        items = self.batch(request)
        planned, errors = [], []
        for index, item in enumerate(items):
            changes, item_errors = self._validate_element(cid, item, creating=True)
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
            planned.append(changes)
        if errors:
            return validation_failed(errors)
        out = []
        now = int(self.now())
        for index, (item, changes) in enumerate(zip(items, planned, strict=True)):
            element = {"id": self._next("elements"), "name": "", "created_by": self.actor.user_id,
                       "updated_by": self.actor.user_id, "created_at": now, "updated_at": now, "is_deleted": None,
                       "catalog_id": cid, "cf": {}, "account_id": self.account_id}
            self._apply_element(element, changes)
            elements[element["id"]] = element
            out.append(self._written_element(element, request_id_of(item, index)))
        self.counters["elements_created"] += len(out)
        return self.hal({"_links": self.link(f"/api/v4/catalogs/{cid}/elements"), "_embedded": {"elements": out}})

    def update_elements(self, request: Request, catalog_id: str) -> Response:
        cid, elements = self._elements_of(catalog_id)
        items = self.batch(request)
        planned, errors = [], []
        for index, item in enumerate(items):
            element = elements.get(self.int_id(item.get("id")) if isinstance(item, dict) else None)
            if element is None:
                errors.append((request_id_of(item, index), [FieldError("NotFound", "id", "Element not found.")]))
                continue
            changes, item_errors = self._validate_element(cid, item, creating=False)
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
            planned.append((element, changes))
        if errors:
            return validation_failed(errors)
        out = []
        for index, (item, (element, changes)) in enumerate(zip(items, planned, strict=True)):
            self._apply_element(element, changes)
            out.append(self._written_element(element, request_id_of(item, index)))
        self.counters["elements_updated"] += len(out)
        return self.hal({"_links": self.link(f"/api/v4/catalogs/{cid}/elements"), "_embedded": {"elements": out}})

    def update_element(self, request: Request, catalog_id: str, element_id: str) -> Response:
        cid, elements = self._elements_of(catalog_id)
        element = elements.get(int(element_id))
        if element is None:
            return problem(404, f"Element {element_id} not found")
        changes, errors = self._validate_element(cid, request.json(), creating=False)
        if errors:
            return validation_failed([("0", errors)])
        self._apply_element(element, changes)
        self.counters["elements_updated"] += 1
        return self.hal(self.render_element(element))

    # ================================================================================================
    # links
    # ================================================================================================
    def _all_links(self, entity: str, entity_id: int) -> list[dict[str, Any]]:
        """Links from this entity, plus links to it from others (contacts ↔ companies ↔ leads)."""
        out = [dict(lk) for lk in self.links.get((entity, entity_id), [])]
        for (owner_type, owner_id), links in self.links.items():
            if owner_type == entity:
                continue
            for lk in links:
                if lk["to_entity_type"] == entity and lk["to_entity_id"] == entity_id:
                    out.append({"entity_id": entity_id, "entity_type": entity, "to_entity_id": owner_id,
                                "to_entity_type": owner_type, "metadata": dict(lk["metadata"])})
        return out

    def _link(self, entity: str, entity_id: int, target: str, target_id: int, metadata: dict[str, Any]) -> dict:
        links = self.links.setdefault((entity, entity_id), [])
        for lk in links:
            if lk["to_entity_type"] == target and lk["to_entity_id"] == target_id:
                if target == "catalog_elements" and self.settings["relink"] == "error":
                    raise ApiProblem(500, "Internal error", title="Internal Server Error")
                lk["metadata"] = metadata
                return lk
        if entity == "leads" and target == "companies":  # a lead has at most one company
            links[:] = [lk for lk in links if lk["to_entity_type"] != "companies"]
        link = {"entity_id": entity_id, "entity_type": entity, "to_entity_id": target_id, "to_entity_type": target,
                "metadata": metadata}
        links.append(link)
        return link

    def _validate_link(self, entity: str, item: Any, unlink: bool = False) -> tuple[dict[str, Any] | None, list[FieldError]]:
        if not isinstance(item, dict):
            return None, [FieldError("InvalidType", "", "This value should be of type object.")]
        target = item.get("to_entity_type")
        target_id = self.int_id(item.get("to_entity_id"))
        meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        if target not in LINK_TARGETS[entity]:
            return None, [FieldError("NotSupportedChoice", "to_entity_type", "The value you selected is not a valid choice.")]
        if target == "catalog_elements":
            catalog_id = self.int_id(meta.get("catalog_id"))
            if catalog_id not in self.catalogs:
                return None, [FieldError("NotSupportedChoice", "metadata.catalog_id", "Catalog not found.")]
            if target_id not in self.elements[catalog_id]:
                return None, [FieldError("NotFound", "to_entity_id", "Element not found.")]
            metadata: dict[str, Any] = {"catalog_id": catalog_id}
            if not unlink:
                quantity = meta.get("quantity", 1)
                if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity < 0:
                    return None, [FieldError("InvalidType", "metadata.quantity", "This value should be a number ≥ 0.")]
                metadata["quantity"] = quantity
                if meta.get("price_id") is not None:
                    price_field = self.fields[f"catalogs:{catalog_id}"].get(self.int_id(meta["price_id"]) or 0)
                    if price_field is None or price_field.type != "price":
                        return None, [FieldError("NotSupportedChoice", "metadata.price_id",
                                                 "The value you selected is not a valid choice.")]
                    metadata["price_id"] = price_field.id
        else:
            if target_id not in self.entities[target]:
                return None, [FieldError("NotFound", "to_entity_id", "Entity not found.")]
            metadata = {"main_contact": bool(meta.get("is_main"))} if target == "contacts" else {}
        return {"to_entity_type": target, "to_entity_id": target_id, "metadata": metadata}, []

    def _do_links(self, entity: str, items: list[tuple[int, Any]], *, unlink: bool) -> Response:
        planned, errors = [], []
        for index, (entity_id, item) in enumerate(items):
            if entity_id not in self.entities[entity]:
                errors.append((request_id_of(item, index), [FieldError("NotFound", "entity_id", "Entity not found.")]))
                continue
            link, item_errors = self._validate_link(entity, item, unlink)
            if item_errors:
                errors.append((request_id_of(item, index), item_errors))
            else:
                planned.append((entity_id, link))
        if errors:
            return validation_failed(errors)
        touched, out = [], []
        for entity_id, link in planned:
            if unlink:
                owned = self.links.get((entity, entity_id), [])
                owned[:] = [lk for lk in owned if not (lk["to_entity_type"] == link["to_entity_type"]
                                                       and lk["to_entity_id"] == link["to_entity_id"])]
                if link["to_entity_type"] in ENTITY_TYPES:  # the link may be stored on the other side
                    other = self.links.get((link["to_entity_type"], link["to_entity_id"]), [])
                    other[:] = [lk for lk in other if not (lk["to_entity_type"] == entity and lk["to_entity_id"] == entity_id)]
            else:
                out.append(dict(self._link(entity, entity_id, link["to_entity_type"], link["to_entity_id"],
                                           link["metadata"])))
            if entity == "leads" and entity_id not in touched:
                touched.append(entity_id)
        for lead_id in touched:
            self.touch_lead(lead_id)
        if unlink:
            return empty_response(204)
        return self.hal({"_total_items": len(out), "_links": self.link(f"/api/v4/{entity}/links"),
                         "_embedded": {"links": out}})

    def link_entity(self, request: Request, entity: str, entity_id: str) -> Response:
        return self._do_links(entity, [(int(entity_id), item) for item in self.batch(request)], unlink=False)

    def unlink_entity(self, request: Request, entity: str, entity_id: str) -> Response:
        return self._do_links(entity, [(int(entity_id), item) for item in self.batch(request)], unlink=True)

    def mass_link(self, request: Request, entity: str) -> Response:
        items = self.batch(request)
        return self._do_links(entity, [(self.int_id(i.get("entity_id")) if isinstance(i, dict) else None, i)
                                       for i in items], unlink=False)

    def mass_unlink(self, request: Request, entity: str) -> Response:
        items = self.batch(request)
        return self._do_links(entity, [(self.int_id(i.get("entity_id")) if isinstance(i, dict) else None, i)
                                       for i in items], unlink=True)

    def _links_of(self, request: Request, entity: str, ids: list[int]) -> list[dict[str, Any]]:
        flt = parse_brackets(request.raw_query).get("filter") or {}
        out = []
        for entity_id in ids:
            for lk in self._all_links(entity, entity_id):
                if isinstance(flt, dict):
                    if flt.get("to_entity_type") and lk["to_entity_type"] != flt["to_entity_type"]:
                        continue
                    if flt.get("to_entity_id") and str(lk["to_entity_id"]) not in as_list(flt["to_entity_id"]):
                        continue
                    if flt.get("to_catalog_id") and str(lk["metadata"].get("catalog_id")) != str(flt["to_catalog_id"]):
                        continue
                out.append(lk)
        return out

    def list_links(self, request: Request, entity: str, entity_id: str) -> Response:
        if int(entity_id) not in self.entities[entity]:
            return empty_response(204)
        links = self._links_of(request, entity, [int(entity_id)])
        return self.page(request, links, "links", f"/api/v4/{entity}/{entity_id}/links", dict, totals=True)

    def list_mass_links(self, request: Request, entity: str) -> Response:
        flt = parse_brackets(request.raw_query).get("filter") or {}
        ids = [int(v) for v in as_list(flt.get("entity_id") if isinstance(flt, dict) else None) if v.isdigit()]
        if not ids:
            return problem(400, "filter[entity_id] is required")
        links = self._links_of(request, entity, ids)
        return self.page(request, links, "links", f"/api/v4/{entity}/links", dict, totals=True)

    # ================================================================================================
    # notes
    # ================================================================================================
    def _note(self, note: dict[str, Any]) -> dict[str, Any]:
        return {**note, "_links": self.link(f"/api/v4/{note['entity_type']}/{note['entity_id']}/notes/{note['id']}")}

    def list_notes(self, request: Request, entity: str, entity_id: str | None = None) -> Response:
        notes = [n for n in sorted(self.notes.values(), key=lambda n: n["id"]) if n["entity_type"] == entity]
        if entity_id is not None:
            notes = [n for n in notes if n["entity_id"] == int(entity_id)]
        flt = parse_brackets(request.raw_query).get("filter") or {}
        if isinstance(flt, dict):
            if flt.get("note_type"):
                notes = [n for n in notes if n["note_type"] in as_list(flt["note_type"])]
            if flt.get("entity_id"):
                wanted = {int(v) for v in as_list(flt["entity_id"]) if v.isdigit()}
                notes = [n for n in notes if n["entity_id"] in wanted]
        notes = self.filtered(request, notes)
        path = f"/api/v4/{entity}/{entity_id}/notes" if entity_id else f"/api/v4/{entity}/notes"
        return self.page(request, notes, "notes", path, self._note)

    def get_note(self, request: Request, entity: str, note_id: str) -> Response:
        note = self.notes.get(int(note_id))
        if note is None or note["entity_type"] != entity:
            return empty_response(204)
        return self.hal(self._note(note))

    def _validate_note(self, entity: str, item: Any, entity_id: int | None) -> list[FieldError]:
        if not isinstance(item, dict):
            return [FieldError("InvalidType", "", "This value should be of type object.")]
        target = entity_id if entity_id is not None else self.int_id(item.get("entity_id"))
        if target not in self.entities[entity]:
            return [FieldError("NotFound", "entity_id", "Entity not found.")]
        note_type = item.get("note_type")
        if note_type not in NOTE_TYPES:
            return [FieldError("NotSupportedChoice", "note_type", "The value you selected is not a valid choice.")]
        params = item.get("params")
        if not isinstance(params, dict):
            return [FieldError("NotBlank", "params", "This value should not be blank.")]
        required = {"common": ["text"], "service_message": ["service", "text"],
                    "extended_service_message": ["service", "text"], "attachment": ["file_uuid", "file_name"]}
        for name in required.get(note_type, []):
            if not isinstance(params.get(name), str) or not params[name].strip():
                return [FieldError("NotBlank", f"params.{name}", "This value should not be blank.")]
        if note_type == "attachment" and params["file_uuid"] not in self.files:
            return [FieldError("NotFound", "params.file_uuid", "File not found.")]
        return []

    def create_notes(self, request: Request, entity: str, entity_id: str | None = None) -> Response:
        items = self.batch(request)
        target = int(entity_id) if entity_id is not None else None
        errors = [(request_id_of(item, index), errs) for index, item in enumerate(items)
                  if (errs := self._validate_note(entity, item, target))]
        if errors:
            return validation_failed(errors)
        out = []
        now = int(self.now())
        for index, item in enumerate(items):
            note = {"id": self._next("notes"), "entity_id": target if target is not None else int(item["entity_id"]),
                    "entity_type": entity, "created_by": self.actor.user_id, "updated_by": self.actor.user_id,
                    "created_at": now, "updated_at": now, "responsible_user_id": self.actor.user_id,
                    "group_id": 0, "note_type": item["note_type"], "params": dict(item["params"]),
                    "account_id": self.account_id}
            self.notes[note["id"]] = note
            out.append({"id": note["id"], "entity_id": note["entity_id"], "request_id": request_id_of(item, index),
                        "_links": self._note(note)["_links"]})
            self.event(f"note_{SINGULAR[entity]}", "leads" if entity == "leads" else "contacts", "note",
                       {"note": {"id": note["id"], "note_type": NOTE_TYPES[note["note_type"]],
                                 "element_id": note["entity_id"], "element_type": LEGACY_ELEMENT_TYPE[entity],
                                 "text": note["params"].get("text", note["params"].get("file_name", "")),
                                 "date_create": now, "last_modified": now, "created_by": note["created_by"],
                                 "account_id": self.account_id}})
        return self.hal({"_links": self.link(f"/api/v4/{entity}/notes"), "_embedded": {"notes": out}})

    # ================================================================================================
    # files: the drive host and lead attachments
    # ================================================================================================
    def create_session(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body.get("file_name") or not isinstance(body.get("file_size"), int):
            return problem(400, "file_name and file_size are required")
        if body["file_size"] <= 0 or body["file_size"] > 314572800:
            return problem(400, "file_size is out of range")
        token = uuid.uuid4().hex
        session_id = len(self.sessions) + 1
        self.sessions[token] = {"session_id": session_id, "file_name": body["file_name"],
                                "file_size": body["file_size"], "content_type": body.get("content_type") or
                                "application/octet-stream", "data": bytearray(), "expires_at": self.now() + 86400,
                                "done": False}
        return json_response({"session_id": session_id,
                              "upload_url": f"{self.base_url}/drive/v1.0/sessions/upload/{token}",
                              "max_file_size": 314572800, "max_part_size": 524288})

    def upload_part(self, request: Request, token: str) -> Response:
        session = self.sessions.get(token)
        if session is None or session["done"] or session["expires_at"] < self.now():
            return problem(404, "Upload session not found")
        if not request.body or len(request.body) > 524288:
            return problem(400, "A part must hold 1..524288 bytes")
        session["data"] += request.body
        if len(session["data"]) > session["file_size"]:
            session["done"] = True
            return problem(400, "More bytes than the declared file_size")
        if len(session["data"]) < session["file_size"]:
            next_token = uuid.uuid4().hex
            self.sessions[next_token] = session
            session["done_tokens"] = [*session.get("done_tokens", []), token]
            del self.sessions[token]
            return json_response({"session_id": session["session_id"],
                                  "next_url": f"{self.base_url}/drive/v1.0/sessions/upload/{next_token}"})
        session["done"] = True
        file_uuid = str(uuid.uuid4())
        name = session["file_name"]
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        self.files[file_uuid] = {"uuid": file_uuid, "version_uuid": str(uuid.uuid4()), "name": name,
                                 "size": len(session["data"]), "type": "file", "content": bytes(session["data"]),
                                 "metadata": {"extension": extension, "mime_type": session["content_type"]},
                                 "created_at": int(self.now()), "created_by": self.actor.user_id}
        self.counters["files_uploaded"] += 1
        return json_response(self._file(self.files[file_uuid]))

    def _file(self, file: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in file.items() if k != "content"}
        out["_links"] = {"download": {"href": f"{self.base_url}/drive/download/{file['uuid']}"},
                         "self": {"href": f"{self.base_url}/drive/v1.0/files/{file['uuid']}"}}
        return out

    def get_file(self, request: Request, file_uuid: str) -> Response:
        file = self.files.get(file_uuid)
        return json_response(self._file(file)) if file else problem(404, "File not found")

    def download_file(self, request: Request, file_uuid: str) -> Response:
        file = self.files.get(file_uuid)
        if file is None:
            return problem(404, "File not found")
        return Response(200, file["content"], {"Content-Type": file["metadata"]["mime_type"]})

    def attach_files(self, request: Request, entity_id: str) -> Response:
        lead_id = int(entity_id)
        if lead_id not in self.entities["leads"]:
            return problem(404, f"Lead {entity_id} not found")
        items = self.batch(request)
        errors = [(request_id_of(item, i), [FieldError("NotFound", "file_uuid", "File not found.")])
                  for i, item in enumerate(items)
                  if not isinstance(item, dict) or item.get("file_uuid") not in self.files]
        if errors:
            return validation_failed(errors)
        attached = self.entity_files.setdefault(("leads", lead_id), [])
        for item in items:
            if item["file_uuid"] not in attached:
                attached.append(item["file_uuid"])
        return empty_response(202)

    def detach_files(self, request: Request, entity_id: str) -> Response:
        attached = self.entity_files.setdefault(("leads", int(entity_id)), [])
        for item in self.batch(request):
            if isinstance(item, dict) and item.get("file_uuid") in attached:
                attached.remove(item["file_uuid"])
        return empty_response(204)

    def list_entity_files(self, request: Request, entity_id: str) -> Response:
        attached = self.entity_files.get(("leads", int(entity_id)), [])
        rows = [{"id": index + 1, "file_uuid": file_uuid} for index, file_uuid in enumerate(attached)]
        return self.page(request, rows, "files", f"/api/v4/leads/{entity_id}/files", dict)

    # ================================================================================================
    # webhooks
    # ================================================================================================
    def list_webhooks(self, request: Request) -> Response:
        flt = parse_brackets(request.raw_query).get("filter") or {}
        destination = flt.get("destination") if isinstance(flt, dict) else None
        hooks = self.hub.list(destination or None)
        if not hooks:
            return empty_response(204)
        return self.hal({"_total_items": len(hooks), "_embedded": {"webhooks": hooks}})

    def register_webhook(self, request: Request) -> Response:
        if not self._local.is_admin:
            return problem(403, "Only an account administrator can manage webhooks")
        body = request.json()
        errors = []
        if not isinstance(body, dict):
            return problem(400, "Request data can not be empty")
        destination = body.get("destination")
        if not isinstance(destination, str) or not destination.startswith(("http://", "https://")):
            errors.append(FieldError("InvalidUrl", "destination", "This value is not a valid URL."))
        settings = body.get("settings")
        if not isinstance(settings, list) or not settings or any(s not in EVENTS for s in settings):
            errors.append(FieldError("NotSupportedChoice", "settings", "The value you selected is not a valid choice."))
        if errors:
            return validation_failed([("0", errors)])
        if len(self.hub.list()) >= 100 and not self.hub.list(destination):
            return problem(400, "No more than 100 webhooks per account")
        hook, _ = self.hub.upsert(destination, settings, int(body.get("sort") or 10), self.actor.user_id)
        return self.hal(hook, 201)

    def delete_webhook(self, request: Request) -> Response:
        if not self._local.is_admin:
            return problem(403, "Only an account administrator can manage webhooks")
        body = request.json()
        destination = body.get("destination") if isinstance(body, dict) else None
        if not destination or not self.hub.delete(destination):
            return problem(404, "Webhook not found")
        return empty_response(204)

    # ================================================================================================
    # control endpoints: /_control/amocrm/…
    # ================================================================================================
    @staticmethod
    def _payload(request: Request) -> dict[str, Any]:
        body = request.json() if request.body else {}
        return body if isinstance(body, dict) else {}

    def ctl_code(self, request: Request) -> Response:
        """An admin pressed "Allow": the code our redirect handler would receive."""
        payload = self._payload(request)
        with self.lock:
            code = self.oauth.issue_code(int(payload.get("user_id", 1002)), payload.get("lifetime"))
        return json_response({"code": code, "referer": self.base_url.split("://", 1)[-1], "platform": "1",
                              "client_id": self.client_id, "redirect_uri": self.redirect_uri})

    def ctl_long_lived(self, request: Request) -> Response:
        payload = self._payload(request)
        with self.lock:
            token = self.oauth.issue_long_lived(int(payload.get("user_id", 1002)),
                                                int(payload.get("lifetime", 365 * 86400)),
                                                payload.get("client_id"))
        return json_response({"access_token": token})

    def ctl_revoke(self, request: Request) -> Response:
        with self.lock:
            return json_response({"revoked": self.oauth.revoke_all()})

    def ctl_clock(self, request: Request) -> Response:
        payload = self._payload(request)
        with self.lock:
            self.clock_offset += float(payload.get("advance", 0))
            return json_response({"offset": self.clock_offset, "now": self.now()})

    def ctl_settings(self, request: Request) -> Response:
        payload = self._payload(request)
        unknown = set(payload) - set(self.settings)
        if unknown:
            return json_response({"error": f"unknown settings: {sorted(unknown)}"}, 400)
        with self.lock:
            self.settings.update(payload)
            self.hub.time_scale = float(self.settings["webhook_time_scale"])
            if "subscription_expired" in payload or "block_after" in payload:
                self.blocked_until.clear()
                self.violations.clear()
            return json_response(self.settings)

    def ctl_block(self, request: Request) -> Response:
        payload = self._payload(request)
        with self.lock:
            key = str(payload.get("client_id", self.client_id))
            self.blocked_until[key] = self.now() + float(payload.get("seconds", 30))
            return json_response({"blocked_until": self.blocked_until[key]})

    def ctl_widget_token(self, request: Request) -> Response:
        """An X-Auth-Token as amoCRM signs it for the widget's $authorizedAjax calls."""
        payload = self._payload(request)
        now = int(self.now())
        parts = self.redirect_uri.split("/")
        claims = {"iss": f"https://{self.subdomain}.amocrm.ru", "aud": f"{parts[0]}//{parts[2]}",
                  "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + int(payload.pop("lifetime", 1800)),
                  "account_id": self.account_id, "user_id": int(payload.pop("user_id", 1001)),
                  "subdomain": self.subdomain, "client_uuid": self.client_id,
                  "is_admin": bool(payload.pop("is_admin", False))}
        claims.update(payload)
        return json_response({"token": jwt.encode(claims, self.client_secret, algorithm="HS256"), "claims": claims})

    def ctl_as_manager(self, request: Request) -> Response:
        """A person working in amoCRM: runs an API call with their rights; their changes always emit webhooks."""
        payload = self._payload(request)
        path = str(payload.get("path", ""))
        raw_path, _, raw_query = path.partition("?")
        body = payload.get("body")
        inner = Request(method=str(payload.get("method", "GET")).upper(), path=raw_path, raw_query=raw_query,
                        query=parse_qs(raw_query, keep_blank_values=True), headers={},
                        body=b"" if body is None else json.dumps(body).encode())
        user_id = int(payload.get("user_id", 1001))
        with self.lock:
            response = self._dispatch_as(Actor(user_id=user_id, client_id=None, emits_webhooks=True), inner,
                                         is_admin=bool(self.users.get(user_id, {}).get("rights", {}).get("is_admin")))
        data = None
        if response.body:
            try:
                data = json.loads(response.body)
            except ValueError:
                data = response.body.decode("utf-8", "replace")
        return json_response({"status": response.status, "body": data})

    def ctl_dump(self, request: Request) -> Response:
        """Raw storage for assertions (no rate limit): ?entity=leads|contacts|companies|elements|notes|files|…"""
        entity = request.arg("entity") or "leads"
        with self.lock:
            if entity in ENTITY_TYPES:
                rows = [self.render_entity(entity, r, {"contacts", "catalog_elements", "leads"})
                        for r in sorted(self.entities[entity].values(), key=lambda r: r["id"])]
            elif entity == "elements":
                cid = int(request.arg("catalog_id") or self.products_catalog_id())
                rows = [self.render_element(e) for e in sorted(self.elements[cid].values(), key=lambda e: e["id"])]
            elif entity == "notes":
                rows = [dict(n) for n in sorted(self.notes.values(), key=lambda n: n["id"])]
            elif entity == "files":
                rows = [self._file(f) for f in self.files.values()]
            elif entity == "lead_files":
                rows = [{"lead_id": k[1], "file_uuids": list(v)} for k, v in self.entity_files.items()]
            elif entity == "webhooks":
                rows = self.hub.list()
            elif entity == "fields":
                rows = [d.as_dict(self.base_url) for key in self.fields for d in self.fields[key].values()]
            elif entity == "catalogs":
                rows = [self._catalog(c) for c in self.catalogs.values()]
            else:
                return json_response({"error": f"unknown entity {entity}"}, 400)
        return json_response({"entity": entity, "count": len(rows), "rows": rows})

    def ctl_flush(self, request: Request) -> Response:
        payload = self._payload(request)
        pending = self.hub.flush(ignore_schedule=bool(payload.get("ignore_schedule")),
                                 wait_seconds=float(payload.get("wait_seconds", 0)))
        return json_response({"pending": pending})

    def ctl_deliveries(self, request: Request) -> Response:
        with self.hub.lock:
            rows = [d.as_dict() for d in sorted(self.hub.deliveries.values(), key=lambda d: d.id)]
        return json_response({"deliveries": rows})

    def ctl_replay(self, request: Request) -> Response:
        payload = self._payload(request)
        return json_response({"statuses": self.hub.replay([int(i) for i in payload.get("ids", [])])})

    # ================================================================================================
    # seed
    # ================================================================================================
    def seed(self, options: dict[str, Any]) -> dict[str, Any]:
        if options.get("dataset") != "demo":
            return self.stats()
        from integration.sandbox.amocrm.seed import seed_demo

        with self.lock:
            self._local.actor = Actor(user_id=1002, client_id=None, emits_webhooks=False)
            self._local.events = []
            seed_demo(self)
            self._local.events = []
        return self.stats()
