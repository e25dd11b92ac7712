"""The MoySklad JSON API 1.2 emulator: documented shapes, limits and behaviours, in-memory storage.

Money is kopecks (floats), dates are Moscow time, references are `{"meta": {"href", "type", "mediaType"}}`.
Limits: Bearer/Basic auth, `Accept-Encoding: gzip` required (415), ≤ 1000 rows a page and items an array (413),
a 45 units / 3 s token bucket (full stock reports weigh 5) and ≤ 5 parallel requests (429 with X-Lognex headers).
ERP-side actions (the warehouse ships, the bank pays, a manager edits an order) are simulated through
control endpoints under `/_control/moysklad/…`.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from integration.sandbox.base import Emulator, Request, Response, empty_response, json_response
from integration.sandbox.moysklad import seeding
from integration.sandbox.moysklad.limits import ParallelLimit, TokenBucket
from integration.sandbox.moysklad.pdf import render_pdf
from integration.sandbox.moysklad.storage import (
    ACCOUNT_ID,
    API_PREFIX,
    apply_filter,
    new_id,
    now_msk,
    parse_filter,
    parse_moment,
    ref_id,
    ref_type,
    stamp,
)
from integration.sandbox.moysklad.webhooks import WebhookDispatcher

API = API_PREFIX
MAX_ITEMS = 1000
HEAVY_REPORTS = frozenset({f"{API}/report/stock/all", f"{API}/report/stock/bystore"})
DOCUMENT_TYPES = ("invoiceout", "demand", "paymentin", "salesreturn")
STOCK_WEBHOOK_FIELDS = ("url", "stockType", "reportType", "enabled")
ASSORTMENT_TYPES = ("product", "service", "bundle", "variant", "consignment")
STATES = [
    ("Новый", 0xFF0000FF, "Regular"),
    ("Подтвержден", 0xFF00AA00, "Regular"),
    ("Собран", 0xFF888800, "Regular"),
    ("Отгружен", 0xFF008800, "Successful"),
    ("Доставлен", 0xFF004400, "Successful"),
    ("Возврат", 0xFF880000, "Unsuccessful"),
    ("Отменён", 0xFF444444, "Unsuccessful"),
]


def error_response(
    status: int,
    code: int,
    message: str,
    *,
    parameter: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {
        "error": message,
        "code": code,
        "moreInfo": "https://dev.moysklad.ru/doc/api/remap/1.2/#error_" + str(code),
    }
    if parameter:
        error["parameter"] = parameter
    return json_response({"errors": [error]}, status, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.parameter = status, code, message, parameter

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, parameter=self.parameter)


def fast_json(data: Any, status: int = 200) -> Response:
    """A JSON response encoded with orjson: list pages of 1,000 products are megabytes."""
    body = orjson.dumps(data, default=str)
    return Response(status, body, {"Content-Type": "application/json; charset=utf-8"})


def _kop(value: float) -> float:
    """Whole kopecks, half up as MoySklad and the paper forms round (float noise below 1e-6 dropped first)."""
    return float(Decimal(repr(round(value, 6))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class MoySkladEmulator(Emulator):
    name = "moysklad"
    gzip_responses = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.login = str(self.options.get("login", "admin@sandbox"))
        self.password = str(self.options.get("password", "sandbox"))
        self.initial_token = str(self.options.get("token", "sandbox-token"))
        self.export_ttl = float(self.options.get("export_ttl", 300))
        self.parallel = ParallelLimit(int(self.options.get("max_parallel", 5)))
        self.dispatcher = WebhookDispatcher(timeout=float(self.options.get("webhook_timeout", 1.5)))
        self._register_routes()
        self.reset()
        interval = float(self.options.get("stock_webhook_seconds", 0))  # MoySklad: every 1–5 min
        if interval > 0:
            threading.Thread(
                target=self._announce_every, args=(interval,), name="moysklad-stock-hooks", daemon=True
            ).start()

    def _announce_every(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            with self.lock:
                self.announce_stock()

    # ------------------------------------------------------------------ storage
    def reset(self) -> None:
        with self.lock:
            self.tokens = {self.initial_token}
            self.bucket = TokenBucket(
                int(self.options.get("rate_limit", 45)), float(self.options.get("rate_window", 3.0))
            )
            self.counters: dict[str, int] = defaultdict(int)
            self.uoms: dict[str, dict] = {}
            self.currencies: dict[str, dict] = {}
            self.price_types: list[dict] = []
            self.folders: dict[str, dict] = {}
            self.products: dict[str, dict] = {}
            self.bundles: dict[str, dict] = {}
            self.services: dict[str, dict] = {}
            self.variants: dict[str, dict] = {}
            self.consignments: dict[str, dict] = {}
            self.stores: dict[str, dict] = {}
            self.organizations: dict[str, dict] = {}
            self.counterparties: dict[str, dict] = {}
            self.orders: dict[str, dict] = {}
            self.documents: dict[str, dict[str, dict]] = {kind: {} for kind in DOCUMENT_TYPES}
            self.webhooks: dict[str, dict] = {}
            self.stock_webhooks: dict[str, dict] = {}
            self.stock: dict[tuple[str, str], list[float]] = {}  # (assortment, store) → [stock, inTransit]
            self.reserves: dict[tuple[str, str], float] = defaultdict(float)
            self.stock_changed: dict[tuple[str, str], Any] = {}
            self.stock_version = 0
            self.report_cache: dict[tuple, list] = {}
            self.exports: dict[str, tuple[float, bytes, str]] = {}
            self.states = [
                {"id": new_id(f"state:{name}"), "name": name, "color": color, "stateType": kind}
                for name, color, kind in STATES
            ]
            self.webhook_suppressed = 0
            self.dispatcher.counts.clear()  # a reset starts the delivery statistics afresh too
            self.dispatcher.log.clear()
            self._refs: dict[tuple[str, str], dict] = {}
            self._price_type_cache: list[dict] = []

    @property
    def tables(self) -> dict[str, dict[str, dict]]:
        return {
            "uom": self.uoms,
            "currency": self.currencies,
            "productfolder": self.folders,
            "product": self.products,
            "bundle": self.bundles,
            "service": self.services,
            "variant": self.variants,
            "consignment": self.consignments,
            "store": self.stores,
            "organization": self.organizations,
            "counterparty": self.counterparties,
            "customerorder": self.orders,
            "webhook": self.webhooks,
            "webhookstock": self.stock_webhooks,
            **self.documents,
        }

    def seed(self, options: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return seeding.seed(self, options)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counts": {name: len(table) for name, table in self.tables.items()},
                "stock_rows": len(self.stock),
                "requests": dict(self.counters),
                "webhooks": dict(self.dispatcher.counts),
                "webhooks_suppressed": self.webhook_suppressed,
                "inflight": self.parallel.inflight,
            }

    # ------------------------------------------------------------------ rendering helpers
    @property
    def api(self) -> str:
        return self.base_url + API

    def meta(self, kind: str, entity_id: str, *, suffix: str = "") -> dict:
        return {
            "href": f"{self.api}/entity/{kind}/{entity_id}{suffix}",
            "metadataHref": f"{self.api}/entity/{kind}/metadata",
            "type": kind,
            "mediaType": "application/json",
        }

    def ref(self, kind: str, entity_id: str | None) -> dict | None:
        if not entity_id:
            return None
        # References are immutable once the port is known: render each one once (100,000-row pages).
        key = (kind, entity_id)
        cached = self._refs.get(key)
        if cached is None:
            cached = self._refs[key] = {"meta": self.meta(kind, entity_id)}
        return cached

    def state_meta(self, state_id: str) -> dict:
        return {
            "href": f"{self.api}/entity/customerorder/metadata/states/{state_id}",
            "type": "state",
            "mediaType": "application/json",
        }

    def price_type_ref(self, price_type: dict) -> dict:
        return {
            "meta": {
                "href": f"{self.api}/context/companysettings/pricetype/{price_type['id']}",
                "type": "pricetype",
                "mediaType": "application/json",
            },
            "id": price_type["id"],
            "name": price_type["name"],
            "externalCode": price_type["externalCode"],
        }

    def currency_id(self) -> str:
        return next(iter(self.currencies))

    def render(self, kind: str, record: dict, expand: set[str]) -> dict:
        renderer = getattr(self, f"render_{kind}", None)
        if renderer is not None:
            return renderer(record, expand)
        out = {"meta": self.meta(kind, record["id"]), "accountId": ACCOUNT_ID}
        for key, value in record.items():
            if key.startswith("_"):
                continue
            out[key] = value
        return out

    def _price_type_refs(self) -> list[dict]:
        if len(self._price_type_cache) != len(self.price_types):
            self._price_type_cache = [self.price_type_ref(pt) for pt in self.price_types]
        return self._price_type_cache

    def render_assortment(self, record: dict, kind: str) -> dict:
        currency = self.ref("currency", self.currency_id())
        folder = self.folders.get(record.get("productFolder") or "")
        out: dict[str, Any] = {
            "meta": self.meta(kind, record["id"]),
            "id": record["id"],
            "accountId": ACCOUNT_ID,
            "updated": record["updated"],
            "name": record["name"],
            "description": record.get("description", ""),
            "code": record["code"],
            "externalCode": record["externalCode"],
            "archived": record["archived"],
            "pathName": folder["_pathName"] if folder else "",
            "useParentVat": False,
            "vat": record["vat"],
            "vatEnabled": record["vatEnabled"],
            "effectiveVat": record["vat"],
            "effectiveVatEnabled": record["vatEnabled"],
            "uom": self.ref("uom", record["uom"]),
            "salePrices": [
                {"value": value, "currency": currency, "priceType": price_type}
                for price_type, value in zip(self._price_type_refs(), record["_prices"], strict=False)
            ],
            "barcodes": record["barcodes"],
            "paymentItemType": "GOOD",
            "trackingType": record.get("trackingType", "NOT_TRACKED"),
            "weight": record.get("weight", 0.0),
            "volume": 0.0,
        }
        if record.get("article"):
            out["article"] = record["article"]
        if folder:
            out["productFolder"] = self.ref("productfolder", folder["id"])
        if kind == "product":
            out["buyPrice"] = {
                "value": record.get("_buy", 0.0),
                "currency": self.ref("currency", self.currency_id()),
            }
            out["variantsCount"] = 0
            out["isSerialTrackable"] = record.get("isSerialTrackable", False)
            out["packs"] = [
                {
                    "id": pack["id"],
                    "uom": self.ref("uom", pack["uom"]),
                    "quantity": pack["quantity"],
                    "barcodes": pack.get("barcodes", []),
                }
                for pack in record.get("_packs", [])
            ]
        return out

    def render_product(self, record: dict, expand: set[str]) -> dict:
        return self.render_assortment(record, "product")

    def render_service(self, record: dict, expand: set[str]) -> dict:
        return self.render_assortment(record, "service")

    def render_bundle(self, record: dict, expand: set[str]) -> dict:
        out = self.render_assortment(record, "bundle")
        components = record["_components"]
        meta = {
            "href": f"{self.api}/entity/bundle/{record['id']}/components",
            "type": "bundlecomponent",
            "mediaType": "application/json",
            "size": len(components),
            "limit": 1000,
            "offset": 0,
        }
        out["components"] = {"meta": meta}
        if "components" in expand:
            out["components"]["rows"] = [self.render_component(record, c) for c in components]
        return out

    def render_component(self, bundle: dict, component: dict) -> dict:
        return {
            "meta": {
                "href": f"{self.api}/entity/bundle/{bundle['id']}/components/{component['id']}",
                "type": "bundlecomponent",
                "mediaType": "application/json",
            },
            "id": component["id"],
            "accountId": ACCOUNT_ID,
            "assortment": self.ref(component["type"], component["assortment"]),
            "quantity": component["quantity"],
        }

    def render_productfolder(self, record: dict, expand: set[str]) -> dict:
        out = {
            "meta": self.meta("productfolder", record["id"]),
            "id": record["id"],
            "accountId": ACCOUNT_ID,
            "updated": record["updated"],
            "name": record["name"],
            "code": record.get("code", ""),
            "externalCode": record["externalCode"],
            "archived": record["archived"],
            "pathName": self.folders[record["productFolder"]]["_pathName"]
            if record.get("productFolder")
            else "",
        }
        if record.get("productFolder"):
            out["productFolder"] = self.ref("productfolder", record["productFolder"])
        return out

    def render_consignment(self, record: dict, expand: set[str]) -> dict:
        return {
            "meta": self.meta("consignment", record["id"]),
            "id": record["id"],
            "accountId": ACCOUNT_ID,
            "updated": record["updated"],
            "name": f"{self.products[record['assortment']]['name']} / {record['label']}",
            "label": record["label"],
            "externalCode": record["externalCode"],
            "assortment": self.ref("product", record["assortment"]),
        }

    def render_counterparty(self, record: dict, expand: set[str]) -> dict:
        out = {"meta": self.meta("counterparty", record["id"]), "accountId": ACCOUNT_ID}
        out.update({k: v for k, v in record.items() if not k.startswith("_") and v not in (None, "")})
        price_type = next((pt for pt in self.price_types if pt["id"] == record.get("_priceType")), None)
        if price_type is not None:
            out["priceType"] = self.price_type_ref(price_type)
        contacts = record.get("_contacts") or []
        out["contactpersons"] = {
            "meta": {
                "href": f"{self.api}/entity/counterparty/{record['id']}/contactpersons",
                "type": "contactperson",
                "mediaType": "application/json",
                "size": len(contacts),
                "limit": 1000,
                "offset": 0,
            }
        }
        if "contactpersons" in expand:
            out["contactpersons"]["rows"] = [self.render_contact(record, c) for c in contacts]
        return out

    def render_contact(self, counterparty: dict, contact: dict) -> dict:
        return {
            "meta": self.meta("counterparty", counterparty["id"], suffix=f"/contactpersons/{contact['id']}"),
            "accountId": ACCOUNT_ID,
            **contact,
        }

    def render_webhook(self, record: dict, expand: set[str]) -> dict:
        return {"meta": self.meta("webhook", record["id"]), "accountId": ACCOUNT_ID, **record}

    def render_position(self, owner_kind: str, owner_id: str, position: dict, expand: set[str]) -> dict:
        out = {
            "meta": {
                "href": f"{self.api}/entity/{owner_kind}/{owner_id}/positions/{position['id']}",
                "type": f"{owner_kind}position",
                "mediaType": "application/json",
            },
            "id": position["id"],
            "accountId": ACCOUNT_ID,
            "quantity": position["quantity"],
            "price": position["price"],
            "discount": position["discount"],
            "vat": position["vat"],
            "vatEnabled": position["vatEnabled"],
            "assortment": self.ref(position["type"], position["assortment"]),
        }
        if "positions.assortment" in expand:
            table = self.tables[position["type"]]
            out["assortment"] = self.render(position["type"], table[position["assortment"]], set())
        if owner_kind == "customerorder":
            out["shipped"] = position.get("shipped", 0.0)
            out["reserve"] = position.get("reserve", 0.0)
        if position.get("pack"):
            out["pack"] = {"id": position["pack"]}
        return out

    def _positions_block(self, kind: str, record: dict, expand: set[str]) -> dict:
        positions = record["_positions"]
        block: dict[str, Any] = {
            "meta": {
                "href": f"{self.api}/entity/{kind}/{record['id']}/positions",
                "type": f"{kind}position",
                "mediaType": "application/json",
                "size": len(positions),
                "limit": 1000,
                "offset": 0,
            }
        }
        if "positions" in expand or "positions.assortment" in expand:
            block["rows"] = [self.render_position(kind, record["id"], p, expand) for p in positions]
        return block

    def render_customerorder(self, record: dict, expand: set[str]) -> dict:
        state = next(s for s in self.states if s["id"] == record["state"])
        out = {
            "meta": self.meta("customerorder", record["id"]),
            "id": record["id"],
            "accountId": ACCOUNT_ID,
            "syncId": record.get("syncId"),
            "updated": record["updated"],
            "created": record["created"],
            "name": record["name"],
            "externalCode": record["externalCode"],
            "moment": record["moment"],
            "applicable": record["applicable"],
            "vatEnabled": record["vatEnabled"],
            "vatIncluded": record["vatIncluded"],
            "rate": {"currency": self.ref("currency", self.currency_id())},
            "sum": record["sum"],
            "vatSum": record["vatSum"],
            "payedSum": record["payedSum"],
            "shippedSum": record["shippedSum"],
            "invoicedSum": record["invoicedSum"],
            "reservedSum": record["reservedSum"],
            "organization": self.ref("organization", record["organization"]),
            "agent": self.ref("counterparty", record["agent"]),
            "state": {"meta": self.state_meta(state["id"])},
            "description": record.get("description", ""),
            "shipmentAddress": record.get("shipmentAddress", ""),
            "positions": self._positions_block("customerorder", record, expand),
        }
        if "state" in expand:
            out["state"] = self.render_state(state)
        if record.get("store"):
            out["store"] = self.ref("store", record["store"])
        for key in ("demands", "invoicesOut", "payments"):
            kind = {"demands": "demand", "invoicesOut": "invoiceout", "payments": "paymentin"}[key]
            if record[f"_{key}"]:
                out[key] = [self.ref(kind, doc_id) for doc_id in record[f"_{key}"]]
        return out

    def render_document(self, kind: str, record: dict, expand: set[str]) -> dict:
        out: dict[str, Any] = {
            "meta": self.meta(kind, record["id"]),
            "id": record["id"],
            "accountId": ACCOUNT_ID,
            "updated": record["updated"],
            "created": record["created"],
            "name": record["name"],
            "externalCode": record["externalCode"],
            "moment": record["moment"],
            "applicable": record["applicable"],
            "sum": record["sum"],
            "vatSum": record.get("vatSum", 0.0),
            "organization": self.ref("organization", record["organization"]),
            "agent": self.ref("counterparty", record["agent"]),
        }
        if record.get("customerOrder"):
            out["customerOrder"] = self.ref("customerorder", record["customerOrder"])
        if record.get("store"):
            out["store"] = self.ref("store", record["store"])
        if kind == "paymentin":
            out["paymentPurpose"] = record.get("paymentPurpose", "")
            out["incomingNumber"] = record.get("incomingNumber", "")
            out["operations"] = [
                {"meta": self.meta(op["type"], op["id"]), "linkedSum": op["linkedSum"]}
                for op in record["_operations"]
            ]
        else:
            out["vatEnabled"] = record["vatEnabled"]
            out["vatIncluded"] = record["vatIncluded"]
            out["payedSum"] = record.get("payedSum", 0.0)
            out["positions"] = self._positions_block(kind, record, expand)
        return out

    def render_invoiceout(self, record: dict, expand: set[str]) -> dict:
        return self.render_document("invoiceout", record, expand)

    def render_demand(self, record: dict, expand: set[str]) -> dict:
        return self.render_document("demand", record, expand)

    def render_paymentin(self, record: dict, expand: set[str]) -> dict:
        return self.render_document("paymentin", record, expand)

    def render_salesreturn(self, record: dict, expand: set[str]) -> dict:
        return {
            **self.render_document("salesreturn", record, expand),
            "demand": self.ref("demand", record["demand"]),
        }

    def render_state(self, state: dict) -> dict:
        return {
            "meta": self.state_meta(state["id"]),
            "id": state["id"],
            "accountId": ACCOUNT_ID,
            "name": state["name"],
            "color": state["color"],
            "stateType": state["stateType"],
            "entityType": "customerorder",
        }

    # ------------------------------------------------------------------ request plumbing
    def handle(self, request: Request) -> Response:
        if not request.path.startswith(API + "/"):
            return self.router.dispatch(request) or self.not_found(request)
        self.counters["total"] += 1
        if "gzip" not in (request.header("accept-encoding") or "").lower():
            self.counters["415"] += 1
            return empty_response(415)
        if not self._authorized(request):
            return error_response(
                401,
                1056,
                "Ошибка аутентификации: Неправильный пароль или имя пользователя или ключ авторизации",
                headers={"X-Lognex-Auth": "-1056", "X-Lognex-Auth-Message": "Invalid credentials"},
            )
        if not self.parallel.enter():
            self.counters["429_parallel"] += 1
            verdict = self.bucket.take(0)
            return error_response(
                429,
                1073,
                "Превышено ограничение на количество параллельных запросов",
                headers={**verdict.headers(), "X-Lognex-Retry-After": "100", "X-Lognex-Reset": "100"},
            )
        try:
            weight = 5 if request.path.rstrip("/") in HEAVY_REPORTS else 1
            verdict = self.bucket.take(weight)
            if not verdict.allowed:
                self.counters["429_rate"] += 1
                return error_response(
                    429,
                    1049,
                    "Превышено ограничение на количество запросов в единицу времени",
                    headers=verdict.headers(),
                )
            try:
                response = self.router.dispatch(request) or error_response(
                    404, 1005, f"Неизвестный URL: {request.path}"
                )
            except ApiError as exc:
                response = exc.response()
            response.headers.update(verdict.headers())
            return response
        finally:
            self.parallel.leave()

    def _authorized(self, request: Request) -> bool:
        auth = request.header("authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() in self.tokens
        if scheme.lower() == "basic":
            try:
                login, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return login == self.login and password == self.password
        return False

    def _paging(self, request: Request) -> tuple[int, int]:
        try:
            limit = int(request.arg("limit", "1000") or 1000)
            offset = int(request.arg("offset", "0") or 0)
        except ValueError as exc:
            raise ApiError(400, 1002, "Неверное значение параметра 'limit' или 'offset'", "limit") from exc
        if limit < 1 or limit > MAX_ITEMS:
            raise ApiError(
                400, 1002, "Значение параметра 'limit' должно быть в диапазоне от 1 до 1000", "limit"
            )
        if offset < 0:
            raise ApiError(400, 1002, "Значение параметра 'offset' не может быть отрицательным", "offset")
        return limit, offset

    def _list_meta(
        self, request: Request, href_path: str, kind: str, size: int, limit: int, offset: int
    ) -> dict:
        meta = {
            "href": f"{self.api}{href_path}",
            "type": kind,
            "mediaType": "application/json",
            "size": size,
            "limit": limit,
            "offset": offset,
        }
        if offset + limit < size:
            params = [
                (k, v) for k, values in request.query.items() if k not in ("limit", "offset") for v in values
            ]
            params += [("limit", str(limit)), ("offset", str(offset + limit))]
            meta["nextHref"] = f"{self.api}{href_path}?{urlencode(params)}"
        if offset > 0:
            params = [
                (k, v) for k, values in request.query.items() if k not in ("limit", "offset") for v in values
            ]
            params += [("limit", str(limit)), ("offset", str(max(0, offset - limit)))]
            meta["previousHref"] = f"{self.api}{href_path}?{urlencode(params)}"
        return meta

    def _list_response(self, request: Request, href_path: str, kind: str, rows: list, render) -> Response:
        limit, offset = self._paging(request)
        page = rows[offset : offset + limit]
        return fast_json(
            {
                "context": {
                    "employee": {
                        "meta": {
                            "href": f"{self.api}/context/employee",
                            "type": "employee",
                            "mediaType": "application/json",
                        }
                    }
                },
                "meta": self._list_meta(request, href_path, kind, len(rows), limit, offset),
                "rows": [render(row) for row in page],
            }
        )

    @staticmethod
    def _expand(request: Request, *, single: bool) -> set[str]:
        raw = request.arg("expand") or ""
        if not single and int(request.arg("limit", "1000") or 1000) > 100:
            return set()  # documented: expand is ignored when limit > 100
        return {part.strip() for part in raw.split(",") if part.strip()}

    def _filter_terms(self, request: Request) -> list[tuple[str, str, str]]:
        try:
            return parse_filter(request.arg("filter"))
        except ValueError as exc:
            raise ApiError(400, 1002, f"Неверный фильтр: {exc}", "filter") from exc

    def _body(self, request: Request) -> Any:
        try:
            return request.json()
        except ValueError as exc:
            raise ApiError(400, 2016, f"Ошибка формата JSON: {exc}") from exc

    # ------------------------------------------------------------------ routes
    def _register_routes(self) -> None:
        r = self.router
        ident = r"(?P<entity_id>[0-9a-fA-F-]{36})"
        r.route("POST", f"{API}/security/token")(self.api_token)
        r.route("GET", f"{API}/context/companysettings/pricetype")(self.api_price_types)
        r.route("GET", f"{API}/context/companysettings/pricetype/default")(self.api_default_price_type)
        r.route("GET", f"{API}/entity/customerorder/metadata")(self.api_order_metadata)
        r.route("GET", f"{API}/entity/(?P<kind>invoiceout|demand|customerorder)/metadata/embeddedtemplate/?")(
            self.api_templates
        )
        r.route("PUT", f"{API}/entity/(?P<kind>invoiceout|demand|paymentin)/new")(self.api_document_template)
        r.route("POST", f"{API}/entity/(?P<kind>[a-z]+)/{ident}/export/?")(self.api_export)
        r.route(
            "GET", f"{API}/entity/(?P<kind>customerorder|invoiceout|demand|salesreturn)/{ident}/positions"
        )(self.api_positions)
        r.route("GET", f"{API}/entity/bundle/{ident}/components")(self.api_components)
        r.route("GET", f"{API}/entity/organization/{ident}/accounts")(self.api_organization_accounts)
        r.route("GET", f"{API}/entity/counterparty/{ident}/contactpersons")(self.api_contacts)
        r.route("POST", f"{API}/entity/counterparty/{ident}/contactpersons")(self.api_add_contact)
        r.route("GET", f"{API}/entity/(?P<kind>[a-z]+)")(self.api_list)
        r.route("POST", f"{API}/entity/(?P<kind>[a-z]+)")(self.api_create)
        r.route("GET", f"{API}/entity/(?P<kind>[a-z]+)/{ident}")(self.api_get)
        r.route("PUT", f"{API}/entity/(?P<kind>[a-z]+)/{ident}")(self.api_update)
        r.route("DELETE", f"{API}/entity/(?P<kind>[a-z]+)/{ident}")(self.api_delete)
        r.route("GET", f"{API}/report/stock/all")(self.api_stock_all)
        r.route("GET", f"{API}/report/stock/bystore")(self.api_stock_bystore)
        r.route("GET", f"{API}/report/stock/(?P<report>all|bystore)/current")(self.api_stock_current)
        r.route("GET", r"/_files/(?P<token>[A-Za-z0-9_-]+)/(?P<filename>[^/]+)")(self.file_download)
        c = "/_control/moysklad"
        r.route("POST", f"{c}/stock")(self.control_stock)
        r.route("POST", f"{c}/product")(self.control_product)
        r.route("POST", f"{c}/product/new")(self.control_new_product)
        r.route("POST", f"{c}/order/{ident}/positions")(self.control_order_positions)
        r.route("POST", f"{c}/order/{ident}/state")(self.control_order_state)
        r.route("POST", f"{c}/demand")(self.control_demand)
        r.route("POST", f"{c}/payment")(self.control_payment)
        r.route("POST", f"{c}/webhooks/trigger")(self.control_webhook_trigger)
        r.route("POST", f"{c}/webhooks/drain")(self.control_webhook_drain)
        r.route("POST", f"{c}/webhooks/stock")(self.control_stock_webhooks)
        r.route("POST", f"{c}/webhooks/faults")(self.control_webhook_faults)
        r.route("POST", f"{c}/salesreturn")(self.control_sales_return)
        r.route("GET", f"{c}/entities/(?P<kind>[a-z]+)")(self.control_entities)

    def api_token(self, request: Request) -> Response:
        auth = request.header("authorization") or ""
        if not auth.lower().startswith("basic ") or not self._authorized(request):
            return error_response(401, 1056, "Ошибка аутентификации: требуется Basic-авторизация")
        with self.lock:
            token = secrets.token_hex(20)
            self.tokens = {token}  # issuing a token revokes the previous ones
        return json_response({"access_token": token}, 201)

    def api_price_types(self, request: Request) -> Response:
        with self.lock:
            return json_response([self.price_type_ref(pt) for pt in self.price_types])

    def api_default_price_type(self, request: Request) -> Response:
        with self.lock:
            return json_response(self.price_type_ref(self.price_types[0]))

    def api_order_metadata(self, request: Request) -> Response:
        with self.lock:
            return json_response(
                {
                    "meta": {
                        "href": f"{self.api}/entity/customerorder/metadata",
                        "mediaType": "application/json",
                    },
                    "attributes": [],
                    "states": [self.render_state(state) for state in self.states],
                    "createShared": False,
                }
            )

    def api_templates(self, request: Request, kind: str) -> Response:
        template_id = new_id(f"template:{kind}")
        names = {"invoiceout": "Счет покупателю", "demand": "ТОРГ-12", "customerorder": "Заказ покупателя"}
        row = {
            "meta": {
                "href": f"{self.api}/entity/{kind}/metadata/embeddedtemplate/{template_id}",
                "type": "embeddedtemplate",
                "mediaType": "application/json",
            },
            "id": template_id,
            "name": names[kind],
            "type": "entity",
            "content": f"{self.api}/download/{template_id}",
        }
        return json_response(
            {
                "meta": {
                    "href": f"{self.api}/entity/{kind}/metadata/embeddedtemplate",
                    "type": "embeddedtemplate",
                    "mediaType": "application/json",
                    "size": 1,
                    "limit": 1000,
                    "offset": 0,
                },
                "rows": [row],
            }
        )

    def _table(self, kind: str) -> dict[str, dict]:
        table = self.tables.get(kind)
        if table is None:
            raise ApiError(404, 1005, f"Неизвестный тип сущности: {kind}")
        return table

    def _find(self, kind: str, entity_id: str) -> dict:
        record = self._table(kind).get(entity_id)
        if record is None:
            raise ApiError(404, 1021, f"Объект с UUID '{entity_id}' не найден")
        return record

    def api_list(self, request: Request, kind: str) -> Response:
        with self.lock:
            table = self._table(kind)
            terms = self._filter_terms(request)
            rows = list(table.values())
            # Archived entities are hidden unless the filter asks for them (`archived=true;archived=false`
            # = both); handled here rather than by the generic filter: it runs on every page of 100,000.
            archived = {v for k, op, v in terms if k == "archived" and op == "="}
            terms = [t for t in terms if not (t[0] == "archived" and t[1] == "=")]
            if "archived" in next(iter(table.values()), {}) and archived != {"true", "false"}:
                wanted = archived == {"true"}
                rows = [row for row in rows if row["archived"] == wanted]
            rows = apply_filter(rows, terms)
            search = (request.arg("search") or "").strip().lower()
            if search:
                rows = [
                    row
                    for row in rows
                    if search
                    in " ".join(
                        str(row.get(f) or "") for f in ("name", "article", "code", "inn", "phone", "email")
                    ).lower()
                ]
            expand = self._expand(request, single=False)
            return self._list_response(
                request, f"/entity/{kind}", kind, rows, lambda row: self.render(kind, row, expand)
            )

    def api_get(self, request: Request, kind: str, entity_id: str) -> Response:
        with self.lock:
            return json_response(
                self.render(kind, self._find(kind, entity_id), self._expand(request, single=True))
            )

    def api_positions(self, request: Request, kind: str, entity_id: str) -> Response:
        with self.lock:
            record = self._find(kind, entity_id)
            expand = {"positions"} | {"positions." + e for e in self._expand(request, single=False)}
            return self._list_response(
                request,
                f"/entity/{kind}/{entity_id}/positions",
                f"{kind}position",
                record["_positions"],
                lambda p: self.render_position(kind, entity_id, p, expand),
            )

    def api_components(self, request: Request, entity_id: str) -> Response:
        with self.lock:
            bundle = self._find("bundle", entity_id)
            return self._list_response(
                request,
                f"/entity/bundle/{entity_id}/components",
                "bundlecomponent",
                bundle["_components"],
                lambda c: self.render_component(bundle, c),
            )

    def render_organization(self, record: dict, expand: set[str]) -> dict:
        out = {"meta": self.meta("organization", record["id"]), "accountId": ACCOUNT_ID}
        out.update({key: value for key, value in record.items() if not key.startswith("_")})
        href = f"{self.api}/entity/organization/{record['id']}/accounts"
        accounts = record.get("_accounts") or []
        out["accounts"] = {"meta": {"href": href, "type": "account", "mediaType": "application/json",
                                    "size": len(accounts), "limit": 1000, "offset": 0}}
        if "accounts" in expand:
            out["accounts"]["rows"] = [self.render_account(record, a) for a in accounts]
        return out

    def render_account(self, organization: dict, account: dict) -> dict:
        href = f"{self.api}/entity/organization/{organization['id']}/accounts/{account['id']}"
        return {"meta": {"href": href, "type": "account", "mediaType": "application/json"},
                "accountId": ACCOUNT_ID, "agent": self.ref("organization", organization["id"]), **account}

    def api_organization_accounts(self, request: Request, entity_id: str) -> Response:
        with self.lock:
            organization = self._find("organization", entity_id)
            return self._list_response(
                request,
                f"/entity/organization/{entity_id}/accounts",
                "account",
                organization.get("_accounts") or [],
                lambda a: self.render_account(organization, a),
            )

    def api_contacts(self, request: Request, entity_id: str) -> Response:
        with self.lock:
            record = self._find("counterparty", entity_id)
            return self._list_response(
                request,
                f"/entity/counterparty/{entity_id}/contactpersons",
                "contactperson",
                record.setdefault("_contacts", []),
                lambda c: self.render_contact(record, c),
            )

    def api_add_contact(self, request: Request, entity_id: str) -> Response:
        """Add a contact person (name, phone, email, position); the counterparty's `updated` moves."""
        body = self._body(request)
        if not isinstance(body, dict) or not (body.get("name") or "").strip():
            raise ApiError(412, 3000, "Ошибка сохранения объекта: поле 'name' не может быть пустым", "name")
        with self.lock:
            record = self._find("counterparty", entity_id)
            contact = {"id": new_id(), "updated": stamp()}
            contact.update(
                {k: body[k] for k in ("name", "phone", "email", "position", "description") if k in body}
            )
            record.setdefault("_contacts", []).append(contact)
            record["updated"] = stamp()
            self.emit("counterparty", entity_id, "UPDATE", request, ["contactpersons"])
            return json_response(self.render_contact(record, contact))

    def _set_price_type(self, record: dict, body: dict) -> bool:
        """`priceType` of a counterparty (a reference, or null for the default); True when it changed."""
        if "priceType" not in body:
            return False
        wanted = ref_id(body["priceType"]) if body["priceType"] else None
        if wanted and not any(pt["id"] == wanted for pt in self.price_types):
            raise ApiError(412, 3000, f"Тип цен с UUID {wanted} не найден", "priceType")
        changed = record.get("_priceType") != wanted
        record["_priceType"] = wanted
        return changed

    # ------------------------------------------------------------------ writes
    def api_create(self, request: Request, kind: str) -> Response:
        body = self._body(request)
        creators = {
            "counterparty": self.create_counterparty,
            "customerorder": self.create_order,
            "webhook": self.create_webhook,
            "webhookstock": self.create_stock_webhook,
            "salesreturn": lambda b, r: self.create_document("salesreturn", b, r),
            "invoiceout": lambda b, r: self.create_document("invoiceout", b, r),
            "demand": lambda b, r: self.create_document("demand", b, r),
            "paymentin": lambda b, r: self.create_document("paymentin", b, r),
        }
        creator = creators.get(kind)
        if creator is None:
            raise ApiError(405, 1004, f"Создание сущностей типа {kind} не поддерживается эмулятором")
        with self.lock:
            if isinstance(body, list):
                if len(body) > MAX_ITEMS:
                    raise ApiError(
                        413, 1007, f"Превышено максимальное количество элементов в массиве ({MAX_ITEMS})"
                    )
                results = []
                for item in body:
                    try:
                        results.append(self.render(kind, creator(item, request), set()))
                    except ApiError as exc:
                        results.append({"errors": [{"error": exc.message, "code": exc.code}]})
                return json_response(results)
            if not isinstance(body, dict):
                raise ApiError(400, 2016, "Ожидался JSON-объект")
            record = creator(body, request)
            return json_response(
                self.render(kind, record, {"positions"} if "_positions" in record else set())
            )

    def api_update(self, request: Request, kind: str, entity_id: str) -> Response:
        body = self._body(request)
        if not isinstance(body, dict):
            raise ApiError(400, 2016, "Ожидался JSON-объект")
        with self.lock:
            record = self._find(kind, entity_id)
            if kind == "customerorder":
                self.update_order(record, body, request)
            elif kind == "counterparty":
                if self._set_price_type(record, body):
                    record["updated"] = stamp()
                    self.emit(kind, record["id"], "UPDATE", request, ["priceType"])
                self.update_plain(kind, record, body, request, self.COUNTERPARTY_FIELDS)
            elif kind == "webhook":
                wanted = {k: body.get(k, record[k]) for k in ("entityType", "action", "url")}
                if any(
                    hook is not record and all(hook[k] == v for k, v in wanted.items())
                    for hook in self.webhooks.values()
                ):
                    raise ApiError(
                        412, 3006, "Вебхук с такими entityType, action и url уже существует", "url"
                    )
                self.update_plain(
                    kind, record, body, request, ("url", "action", "entityType", "diffType", "enabled")
                )
            elif kind == "webhookstock":
                self.update_plain(kind, record, body, request, STOCK_WEBHOOK_FIELDS)
            elif kind == "invoiceout":
                self.update_plain(
                    kind, record, body, request, ("name", "moment", "paymentPlannedMoment", "description")
                )
            else:
                raise ApiError(405, 1004, f"Изменение сущностей типа {kind} не поддерживается эмулятором")
            return json_response(
                self.render(kind, record, {"positions"} if "_positions" in record else set())
            )

    def api_delete(self, request: Request, kind: str, entity_id: str) -> Response:
        with self.lock:
            record = self._find(kind, entity_id)
            if kind in ("product", "bundle"):
                raise ApiError(409, 1044, "Нельзя удалить товар, используемый в документах; архивируйте его")
            if kind == "customerorder":
                self._apply_reserves(record, {})
            del self._table(kind)[entity_id]
            if kind not in ("webhook", "webhookstock"):
                self.emit(kind, entity_id, "DELETE", request)
            return empty_response(200)

    COUNTERPARTY_FIELDS = (
        "name",
        "companyType",
        "inn",
        "kpp",
        "ogrn",
        "ogrnip",
        "legalTitle",
        "legalAddress",
        "actualAddress",
        "email",
        "phone",
        "externalCode",
        "description",
        "archived",
        "tags",
    )

    def update_plain(self, kind: str, record: dict, body: dict, request: Request | None, fields) -> None:
        changed = [f for f in fields if f in body and record.get(f) != body[f]]
        for field in changed:
            record[field] = body[field]
        if changed and "updated" in record:
            record["updated"] = stamp()
        if changed and kind not in ("webhook", "webhookstock"):
            self.emit(kind, record["id"], "UPDATE", request, changed)

    def create_counterparty(self, body: dict, request: Request | None) -> dict:
        if not (body.get("name") or "").strip():
            raise ApiError(412, 3000, "Ошибка сохранения объекта: поле 'name' не может быть пустым", "name")
        company_type = body.get("companyType", "legal")
        if company_type not in ("legal", "entrepreneur", "individual"):
            raise ApiError(400, 2017, f"Неверное значение поля 'companyType': {company_type}", "companyType")
        now = stamp()
        record = {
            "id": new_id(),
            "updated": now,
            "created": now,
            "archived": False,
            "companyType": company_type,
            "externalCode": body.get("externalCode") or new_id()[:22],
        }
        for field in self.COUNTERPARTY_FIELDS:
            if field in body and field not in ("companyType", "externalCode"):
                record[field] = body[field]
        self._set_price_type(record, body)
        self.counterparties[record["id"]] = record
        self.emit("counterparty", record["id"], "CREATE", request)
        return record

    def create_webhook(self, body: dict, request: Request | None) -> dict:
        for field in ("url", "action", "entityType"):
            if not body.get(field):
                raise ApiError(
                    412, 3000, f"Ошибка сохранения объекта: поле '{field}' не может быть пустым", field
                )
        if body["action"] not in ("CREATE", "UPDATE", "DELETE", "PROCESSED"):
            raise ApiError(400, 2017, f"Неверное значение поля 'action': {body['action']}", "action")
        for hook in self.webhooks.values():
            if (hook["entityType"], hook["action"], hook["url"]) == (
                body["entityType"],
                body["action"],
                body["url"],
            ):
                raise ApiError(412, 3006, "Вебхук с такими entityType, action и url уже существует", "url")
        record = {
            "id": new_id(),
            "url": body["url"],
            "action": body["action"],
            "entityType": body["entityType"],
            "diffType": body.get("diffType", "NONE"),
            "enabled": body.get("enabled", True),
            "method": "POST",
        }
        self.webhooks[record["id"]] = record
        return record

    def create_stock_webhook(self, body: dict, request: Request | None) -> dict:
        """`entity/webhookstock`: a periodic announcement of stock changes (reportUrl to the /current report)."""
        if not body.get("url"):
            raise ApiError(412, 3000, "Ошибка сохранения объекта: поле 'url' не может быть пустым", "url")
        if body.get("stockType", "stock") != "stock":
            raise ApiError(400, 2017, f"Неверное значение поля 'stockType': {body['stockType']}", "stockType")
        if body.get("reportType") not in ("all", "bystore"):
            raise ApiError(
                400, 2017, f"Неверное значение поля 'reportType': {body.get('reportType')}", "reportType"
            )
        for hook in self.stock_webhooks.values():
            if (hook["reportType"], hook["url"]) == (body["reportType"], body["url"]):
                raise ApiError(412, 3006, "Вебхук на остатки с такими reportType и url уже существует", "url")
        record = {
            "id": new_id(),
            "url": body["url"],
            "stockType": "stock",
            "reportType": body["reportType"],
            "enabled": body.get("enabled", True),
            "_announced": now_msk(),
        }
        self.stock_webhooks[record["id"]] = record
        return record

    def announce_stock(self) -> int:
        """What MoySklad does every 1–5 min: tell each enabled stock webhook that stock changed since the
        last announcement, with the `/current` report URL to read. Returns how many were sent."""
        sent = 0
        for hook in self.stock_webhooks.values():
            since = hook["_announced"]
            if not hook.get("enabled", True) or not any(m >= since for m in self.stock_changed.values()):
                continue
            moment = since.strftime("%Y-%m-%d %H:%M:%S")
            self.dispatcher.submit(
                hook["url"],
                {
                    "accountId": ACCOUNT_ID,
                    "stockType": hook["stockType"],
                    "reportType": hook["reportType"],
                    "reportUrl": f"{self.api}/report/stock/{hook['reportType']}/current?changedSince={moment}",
                },
            )
            hook["_announced"] = now_msk()
            sent += 1
        return sent

    # --- customer orders
    def _resolve_assortment(self, value: Any) -> tuple[str, str]:
        entity_id = ref_id(value)
        kind = ref_type(value)
        for candidate in ([kind] if kind else []) + list(ASSORTMENT_TYPES):
            if candidate in ASSORTMENT_TYPES and entity_id in self.tables[candidate]:
                return candidate, entity_id
        raise ApiError(412, 3000, f"Товар (assortment) {entity_id} не найден", "assortment")

    def _parse_positions(self, raw: Any, *, with_reserve: bool) -> list[dict]:
        if isinstance(raw, dict):
            raw = raw.get("rows", [])
        if not isinstance(raw, list):
            raise ApiError(400, 2016, "Поле 'positions' должно быть массивом", "positions")
        if len(raw) > MAX_ITEMS:
            raise ApiError(
                413, 1007, f"Превышено максимальное количество позиций в запросе ({MAX_ITEMS})", "positions"
            )
        positions = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict) or "assortment" not in item:
                raise ApiError(412, 3000, f"Позиция {index}: поле 'assortment' обязательно", "assortment")
            kind, assortment_id = self._resolve_assortment(item["assortment"])
            try:
                quantity = float(item.get("quantity", 1))
                price = float(item.get("price", 0))
                discount = float(item.get("discount", 0))
                reserve = float(item.get("reserve", 0)) if with_reserve else 0.0
            except (TypeError, ValueError) as exc:
                raise ApiError(
                    400, 2017, f"Позиция {index}: неверное числовое значение", "positions"
                ) from exc
            if quantity < 0 or reserve < 0 or reserve > quantity:
                raise ApiError(
                    412, 3000, f"Позиция {index}: резерв должен быть от 0 до количества", "reserve"
                )
            positions.append(
                {
                    "id": item.get("id") or new_id(),
                    "type": kind,
                    "assortment": assortment_id,
                    "quantity": quantity,
                    "price": price,
                    "discount": discount,
                    "vat": int(item.get("vat", 0)),
                    "vatEnabled": bool(item.get("vatEnabled", int(item.get("vat", 0)) > 0)),
                    "reserve": reserve,
                    "shipped": 0.0,
                    "pack": ref_id(item.get("pack")) if item.get("pack") else None,
                }
            )
        return positions

    def _totals(self, record: dict) -> None:
        total = vat_total = reserved = 0.0
        for p in record["_positions"]:
            line = _kop(p["price"] * p["quantity"] * (1 - p["discount"] / 100))
            total += line
            if record.get("vatEnabled", True) and p["vatEnabled"] and p["vat"]:
                vat_total += (
                    _kop(line * p["vat"] / (100 + p["vat"]))
                    if record.get("vatIncluded", True)
                    else _kop(line * p["vat"] / 100)
                )
            reserved += _kop(p["price"] * p.get("reserve", 0.0) * (1 - p["discount"] / 100))
        if record.get("vatEnabled", True) and not record.get("vatIncluded", True):
            total += vat_total
        record["sum"] = total
        record["vatSum"] = vat_total
        if "reservedSum" in record:
            record["reservedSum"] = reserved

    def _state_by_ref(self, value: Any) -> str:
        state_id = ref_id(value)
        if not any(s["id"] == state_id for s in self.states):
            raise ApiError(412, 3000, f"Статус {state_id} не найден", "state")
        return state_id

    def _require_ref(self, body: dict, field: str, kind: str) -> str:
        entity_id = ref_id(body.get(field))
        if not entity_id:
            raise ApiError(
                412, 3000, f"Ошибка сохранения объекта: поле '{field}' не может быть пустым", field
            )
        if entity_id not in self.tables[kind]:
            raise ApiError(412, 3000, f"Объект '{field}' с UUID {entity_id} не найден", field)
        return entity_id

    def create_order(self, body: dict, request: Request | None) -> dict:
        sync_id = body.get("syncId")
        if sync_id:
            for existing in self.orders.values():
                if existing.get("syncId") == sync_id:
                    return existing  # documented: a create retried with the same syncId returns the original
        organization = self._require_ref(body, "organization", "organization")
        agent = self._require_ref(body, "agent", "counterparty")
        store = self._require_ref(body, "store", "store") if body.get("store") else None
        positions = self._parse_positions(body.get("positions", []), with_reserve=True)
        if any(p["reserve"] for p in positions) and not store:
            raise ApiError(412, 3000, "Для резервирования укажите склад заказа", "store")
        now = stamp()
        self.counters["order_number"] += 1
        name = body.get("name") or f"{self.counters['order_number']:05d}"
        if any(o["name"] == name for o in self.orders.values()):
            raise ApiError(412, 3006, f"Документ с номером {name} уже существует", "name")
        record = {
            "id": new_id(),
            "syncId": sync_id,
            "updated": now,
            "created": now,
            "name": name,
            "externalCode": body.get("externalCode") or new_id()[:22],
            "moment": body.get("moment") or now[:19],
            "applicable": bool(body.get("applicable", True)),
            "vatEnabled": bool(body.get("vatEnabled", True)),
            "vatIncluded": bool(body.get("vatIncluded", True)),
            "organization": organization,
            "agent": agent,
            "store": store,
            "state": self._state_by_ref(body["state"]) if body.get("state") else self.states[0]["id"],
            "description": body.get("description", ""),
            "shipmentAddress": body.get("shipmentAddress", ""),
            "_positions": positions,
            "payedSum": 0.0,
            "shippedSum": 0.0,
            "invoicedSum": 0.0,
            "reservedSum": 0.0,
            "_demands": [],
            "_invoicesOut": [],
            "_payments": [],
            "_reserved": {},
        }
        self._totals(record)
        self.orders[record["id"]] = record
        self._apply_reserves(record, self._order_reserves(record))
        self.emit("customerorder", record["id"], "CREATE", request)
        return record

    ORDER_FIELDS = (
        "name",
        "externalCode",
        "moment",
        "applicable",
        "vatEnabled",
        "vatIncluded",
        "description",
        "shipmentAddress",
    )

    def update_order(self, record: dict, body: dict, request: Request | None) -> None:
        changed = []
        for field in self.ORDER_FIELDS:
            if field in body and record.get(field) != body[field]:
                record[field] = body[field]
                changed.append(field)
        for field, kind in (("agent", "counterparty"), ("organization", "organization"), ("store", "store")):
            if field in body:
                value = self._require_ref(body, field, kind)
                if record.get(field) != value:
                    record[field] = value
                    changed.append(field)
        if "state" in body:
            state = self._state_by_ref(body["state"])
            if state != record["state"]:
                record["state"] = state
                changed.append("state")
        if "positions" in body:
            positions = self._parse_positions(body["positions"], with_reserve=True)
            self._count_shipped(record, positions)
            comparable = [{k: v for k, v in p.items() if k != "id"} for p in positions]
            if comparable != [{k: v for k, v in p.items() if k != "id"} for p in record["_positions"]]:
                record["_positions"] = positions
                changed.append("positions")
        if any(p["reserve"] for p in record["_positions"]) and not record.get("store"):
            raise ApiError(412, 3000, "Для резервирования укажите склад заказа", "store")
        if changed:
            self._totals(record)
            record["updated"] = stamp()
            self._apply_reserves(record, self._order_reserves(record))
            self.emit("customerorder", record["id"], "UPDATE", request, changed)

    def _order_reserves(self, record: dict) -> dict[tuple[str, str], float]:
        """What the order holds: unshipped reserve per (assortment, store); a bundle reserves its components."""
        held: dict[tuple[str, str], float] = defaultdict(float)
        if not record["applicable"] or not record.get("store"):
            return held
        for p in record["_positions"]:
            quantity = max(0.0, p.get("reserve", 0.0) - p.get("shipped", 0.0))
            if not quantity:
                continue
            if p["type"] == "bundle":
                for component in self.bundles[p["assortment"]]["_components"]:
                    held[(component["assortment"], record["store"])] += quantity * component["quantity"]
            else:
                held[(p["assortment"], record["store"])] += quantity
        return held

    def _apply_reserves(self, record: dict, new: dict[tuple[str, str], float]) -> None:
        old = record.get("_reserved", {})
        for key in set(old) | set(new):
            delta = new.get(key, 0.0) - old.get(key, 0.0)
            if delta:
                self.reserves[key] += delta
                self._touch_stock(key)
        record["_reserved"] = dict(new)

    def _touch_stock(self, key: tuple[str, str]) -> None:
        self.stock_changed[key] = now_msk()
        self.stock_version += 1

    # --- downstream documents
    def document_template(self, kind: str, order: dict) -> dict:
        base = {
            "moment": stamp()[:19],
            "applicable": True,
            "sum": 0.0,
            "organization": self.ref("organization", order["organization"]),
            "agent": self.ref("counterparty", order["agent"]),
            "customerOrder": self.ref("customerorder", order["id"]),
        }
        if kind == "paymentin":
            amount = max(0.0, order["sum"] - order["payedSum"])
            base["operations"] = [{"meta": self.meta("customerorder", order["id"]), "linkedSum": amount}]
            base["paymentPurpose"] = f"Оплата по заказу {order['name']}"
            return base
        base["vatEnabled"] = order["vatEnabled"]
        base["vatIncluded"] = order["vatIncluded"]
        if order.get("store"):
            base["store"] = self.ref("store", order["store"])
        rows = []
        for p in order["_positions"]:
            quantity = p["quantity"] - (p.get("shipped", 0.0) if kind == "demand" else 0.0)
            if quantity <= 0:
                continue
            rows.append(
                {
                    "quantity": quantity,
                    "price": p["price"],
                    "discount": p["discount"],
                    "vat": p["vat"],
                    "vatEnabled": p["vatEnabled"],
                    "assortment": self.ref(p["type"], p["assortment"]),
                }
            )
        base["positions"] = {"rows": rows}
        return base

    def api_document_template(self, request: Request, kind: str) -> Response:
        body = self._body(request) or {}
        with self.lock:
            order_id = ref_id(body.get("customerOrder"))
            if not order_id:
                raise ApiError(412, 3000, "Укажите customerOrder для заполнения шаблона", "customerOrder")
            return json_response(self.document_template(kind, self._find("customerorder", order_id)))

    def create_document(self, kind: str, body: dict, request: Request | None) -> dict:
        sync_id = body.get("syncId")
        if sync_id:
            for existing in self.tables[kind].values():
                if existing.get("syncId") == sync_id:
                    return existing  # documented for every create: a retry with the same syncId returns the original
        organization = self._require_ref(body, "organization", "organization")
        agent = self._require_ref(body, "agent", "counterparty")
        order_id = ref_id(body.get("customerOrder")) if body.get("customerOrder") else None
        if kind == "paymentin" and not order_id:
            for op in body.get("operations") or []:
                if ref_type(op) == "customerorder":
                    order_id = ref_id(op)
        order = self._find("customerorder", order_id) if order_id else None
        store = None
        demand = None
        if kind in ("demand", "salesreturn"):
            store = self._require_ref(body, "store", "store")
        if kind == "salesreturn":
            demand = self._find("demand", self._require_ref(body, "demand", "demand"))
        now = stamp()
        self.counters[f"{kind}_number"] += 1
        record: dict[str, Any] = {
            "id": new_id(),
            "updated": now,
            "created": now,
            "name": body.get("name") or f"{self.counters[f'{kind}_number']:05d}",
            "externalCode": body.get("externalCode") or new_id()[:22],
            "syncId": sync_id,
            "moment": body.get("moment") or now[:19],
            "applicable": bool(body.get("applicable", True)),
            "organization": organization,
            "agent": agent,
            "customerOrder": order_id,
            "store": store,
        }
        if demand is not None:
            record["demand"] = demand["id"]
        if kind == "paymentin":
            operations = []
            for op in body.get("operations") or []:
                operations.append(
                    {
                        "type": ref_type(op) or "customerorder",
                        "id": ref_id(op),
                        "linkedSum": float(op.get("linkedSum", 0)),
                    }
                )
            record["_operations"] = operations
            record["sum"] = float(body.get("sum") or sum(op["linkedSum"] for op in operations))
            record["paymentPurpose"] = body.get("paymentPurpose", "")
            record["incomingNumber"] = body.get("incomingNumber", "")
            if order:
                order["payedSum"] += (
                    sum(op["linkedSum"] for op in operations if op["id"] == order["id"]) or record["sum"]
                )
                order["_payments"].append(record["id"])
        else:
            record["vatEnabled"] = bool(body.get("vatEnabled", True))
            record["vatIncluded"] = bool(body.get("vatIncluded", True))
            record["_positions"] = self._parse_positions(body.get("positions", []), with_reserve=False)
            self._totals(record)
            if kind == "demand":
                self._ship(record, order)
            if kind == "salesreturn":
                for p in record["_positions"]:
                    self.stock.setdefault((p["assortment"], store), [0.0, 0.0])[0] += p["quantity"]
                    self._touch_stock((p["assortment"], store))
            if order and kind == "invoiceout":
                order["invoicedSum"] += record["sum"]
                order["_invoicesOut"].append(record["id"])
        self.documents[kind][record["id"]] = record
        if order:
            order["updated"] = stamp()
            self.emit(
                "customerorder",
                order["id"],
                "UPDATE",
                request,
                ["payedSum" if kind == "paymentin" else "shippedSum" if kind == "demand" else "invoicedSum"],
            )
        self.emit(kind, record["id"], "CREATE", request)
        return record

    def _count_shipped(self, order: dict, positions: list[dict], new_demand: dict | None = None) -> None:
        """A position's `shipped` is read-only: what the order's demands shipped of its assortment, spread over
        the positions in order. Assumption (the docs say only "Доставлено"): it is derived from the linked
        demands, so replacing the positions keeps what left the store shipped and out of the reserve."""
        left: dict[str, float] = defaultdict(float)
        demands = {**self._table("demand"), **({new_demand["id"]: new_demand} if new_demand else {})}
        for demand_id in order.get("_demands", []):
            for p in demands.get(demand_id, {}).get("_positions", []):
                left[p["assortment"]] += p["quantity"]
        for p in positions:
            take = min(left[p["assortment"]], p["quantity"])
            p["shipped"] = take
            left[p["assortment"]] -= take

    def _ship(self, demand: dict, order: dict | None) -> None:
        """A demand takes stock off the store (batches first-in first-out) and marks the order shipped."""
        store = demand["store"]
        for p in demand["_positions"]:
            parts = (
                [
                    (c["assortment"], c["quantity"] * p["quantity"])
                    for c in self.bundles[p["assortment"]]["_components"]
                ]
                if p["type"] == "bundle"
                else [(p["assortment"], p["quantity"])]
            )
            for assortment, quantity in parts:
                remaining = quantity
                for consignment in [c for c in self.consignments.values() if c["assortment"] == assortment]:
                    cell = self.stock.get((consignment["id"], store))
                    if not cell or cell[0] <= 0 or remaining <= 0:
                        continue
                    take = min(cell[0], remaining)
                    cell[0] -= take
                    remaining -= take
                    self._touch_stock((consignment["id"], store))
                if remaining > 0:
                    self.stock.setdefault((assortment, store), [0.0, 0.0])[0] -= remaining
                    self._touch_stock((assortment, store))
        if order is None:
            return
        order["_demands"].append(demand["id"])
        self._count_shipped(order, order["_positions"], new_demand=demand)
        order["shippedSum"] += demand["sum"]
        self._apply_reserves(order, self._order_reserves(order))

    # --- print forms
    def api_export(self, request: Request, kind: str, entity_id: str) -> Response:
        body = self._body(request) or {}
        with self.lock:
            record = self._find(kind, entity_id)
            if not (body.get("template") or body.get("templates")):
                raise ApiError(412, 3000, "Не указан шаблон печатной формы", "template")
            extension = body.get("extension", "pdf")
            if extension != "pdf":
                raise ApiError(400, 2017, "Эмулятор печатает только PDF", "extension")
            lines = [
                f"{kind} {record['name']}",
                f"moment {record['moment']}",
                f"sum {record['sum'] / 100:.2f} RUB",
                f"vat {record.get('vatSum', 0) / 100:.2f} RUB",
            ]
            for p in record.get("_positions", []):
                lines.append(f"{p['assortment'][:8]} x {p['quantity']:g} @ {p['price'] / 100:.2f}")
            token = secrets.token_urlsafe(16)
            filename = f"{kind}-{record['name']}.pdf"
            self.exports[token] = (time.monotonic() + self.export_ttl, render_pdf(lines), filename)
        # Document names may be Cyrillic: headers carry them percent-encoded.
        return empty_response(303, {"Location": f"{self.base_url}/_files/{token}/{quote(filename)}"})

    def file_download(self, request: Request, token: str, filename: str) -> Response:
        with self.lock:
            entry = self.exports.get(token)
            if entry is None or entry[0] < time.monotonic():
                self.exports.pop(token, None)
                return empty_response(404)
            return Response(
                200,
                entry[1],
                {
                    "Content-Type": "application/pdf",
                    "Content-Disposition": f"attachment; filename*=UTF-8''{quote(entry[2])}",
                },
            )

    # ------------------------------------------------------------------ stock reports
    def _stock_products(self, terms: list[tuple[str, str, str]]) -> list[dict]:
        wanted = {ref_id(v) for k, op, v in terms if k == "product" and op == "="}
        archived = [v for k, _, v in terms if k == "archived"]
        if wanted:
            rows = [self.products[i] for i in wanted if i in self.products]
        else:
            rows = list(self.products.values())
        if not archived:
            rows = [p for p in rows if not p["archived"]]
        elif archived == ["true"]:
            rows = [p for p in rows if p["archived"]]
        return rows

    def _cell(self, assortment: str, store: str) -> tuple[float, float, float]:
        cell = self.stock.get((assortment, store))
        stock, transit = (cell[0], cell[1]) if cell else (0.0, 0.0)
        return stock, self.reserves.get((assortment, store), 0.0), transit

    def _product_cells(
        self, product_id: str, store: str, group_by: str
    ) -> list[tuple[str, str, float, float, float]]:
        """(kind, id, stock, reserve, inTransit) rows of one product in one store."""
        stock, reserve, transit = self._cell(product_id, store)
        batches = self.products[product_id].get("_consignments", [])
        if group_by == "consignment" and batches:
            rows = [("product", product_id, stock, reserve, transit)] if (stock or reserve or transit) else []
            for consignment_id in batches:
                c_stock, c_reserve, c_transit = self._cell(consignment_id, store)
                rows.append(("consignment", consignment_id, c_stock, c_reserve, c_transit))
            return rows
        for consignment_id in batches:
            c_stock, c_reserve, c_transit = self._cell(consignment_id, store)
            stock, reserve, transit = stock + c_stock, reserve + c_reserve, transit + c_transit
        return [("product", product_id, stock, reserve, transit)]

    def _stock_stores(self, terms) -> list[dict]:
        wanted = {ref_id(v) for k, op, v in terms if k == "store" and op == "="}
        return [s for s in self.stores.values() if (not wanted or s["id"] in wanted) and not s["archived"]]

    def _report_terms(self, request: Request) -> tuple[list, str, str]:
        terms = self._filter_terms(request)
        mode = {k: v for k, _, v in terms if k in ("stockMode", "quantityMode")}
        return (
            terms,
            mode.get("stockMode", request.arg("stockMode") or ""),
            mode.get("quantityMode", request.arg("quantityMode") or ""),
        )

    @staticmethod
    def _mode_ok(mode: str, value: float) -> bool:
        return {
            "all": True,
            "positiveOnly": value > 0,
            "negativeOnly": value < 0,
            "empty": value == 0,
            "nonEmpty": value != 0,
            "underMinimum": value < 0,
        }.get(mode, True)

    def _assortment_ref_meta(self, kind: str, entity_id: str) -> dict:
        meta = self.meta(kind, entity_id)
        meta["href"] += "?expand=supplier" if kind == "product" else "?expand=product.supplier"
        return meta

    def api_stock_all(self, request: Request) -> Response:
        with self.lock:
            terms, stock_mode, quantity_mode = self._report_terms(request)
            stock_mode, quantity_mode = stock_mode or "all", quantity_mode or "nonEmpty"
            group_by = request.arg("groupBy") or "variant"
            key = (
                "all",
                request.arg("filter"),
                stock_mode,
                quantity_mode,
                group_by,
                self.stock_version,
                len(self.products),
            )
            rows = self.report_cache.get(key)
            if rows is None:
                stores = self._stock_stores(terms)
                rows = []
                for product in self._stock_products(terms):
                    totals: dict[tuple[str, str], list[float]] = {}
                    for store in stores:
                        for kind, entity_id, stock, reserve, transit in self._product_cells(
                            product["id"], store["id"], group_by
                        ):
                            acc = totals.setdefault((kind, entity_id), [0.0, 0.0, 0.0])
                            acc[0] += stock
                            acc[1] += reserve
                            acc[2] += transit
                    for (kind, entity_id), (stock, reserve, transit) in totals.items():
                        quantity = stock - reserve + transit
                        if self._mode_ok(stock_mode, stock) and self._mode_ok(quantity_mode, quantity):
                            rows.append((product, kind, entity_id, stock, reserve, transit, quantity))
                self.report_cache = {key: rows}

            def render(row):
                product, kind, entity_id, stock, reserve, transit, quantity = row
                out = {
                    "meta": self._assortment_ref_meta(kind, entity_id),
                    "stock": stock,
                    "inTransit": transit,
                    "reserve": reserve,
                    "quantity": quantity,
                    "name": product["name"],
                    "code": product["code"],
                    "price": product.get("_buy", 0.0),
                    "salePrice": product["_prices"][0] if product["_prices"] else 0.0,
                    "uom": {
                        "meta": self.meta("uom", product["uom"]),
                        "name": self.uoms[product["uom"]]["name"],
                    },
                    "externalCode": product["externalCode"],
                    "stockDays": 0.0,
                }
                if product.get("article"):
                    out["article"] = product["article"]
                return out

            return self._list_response(request, "/report/stock/all", "stock", rows, render)

    def api_stock_bystore(self, request: Request) -> Response:
        with self.lock:
            terms, stock_mode, _ = self._report_terms(request)
            stock_mode = stock_mode or "nonEmpty"
            group_by = request.arg("groupBy") or "variant"
            stores = self._stock_stores(terms)
            key = (
                "bystore",
                request.arg("filter"),
                stock_mode,
                group_by,
                self.stock_version,
                len(self.products),
            )
            rows = self.report_cache.get(key)
            if rows is None:
                rows = []
                for product in self._stock_products(terms):
                    cells: dict[tuple[str, str], list] = {}
                    for store in stores:
                        for kind, entity_id, stock, reserve, transit in self._product_cells(
                            product["id"], store["id"], group_by
                        ):
                            cells.setdefault((kind, entity_id), []).append((store, stock, reserve, transit))
                    for (kind, entity_id), by_store in cells.items():
                        if self._mode_ok(stock_mode, sum(s for _, s, _, _ in by_store)):
                            rows.append((kind, entity_id, by_store))
                self.report_cache = {key: rows}

            def render(row):
                kind, entity_id, by_store = row
                return {
                    "meta": self._assortment_ref_meta(kind, entity_id),
                    "stockByStore": [
                        {
                            "meta": self.meta("store", store["id"]),
                            "name": store["name"],
                            "stock": stock,
                            "reserve": reserve,
                            "inTransit": transit,
                        }
                        for store, stock, reserve, transit in by_store
                    ],
                }

            return self._list_response(request, "/report/stock/bystore", "stockbystore", rows, render)

    def api_stock_current(self, request: Request, report: str) -> Response:
        stock_type = request.arg("stockType") or "stock"
        if stock_type not in ("stock", "freeStock", "quantity", "reserve", "inTransit"):
            raise ApiError(400, 2017, f"Неверное значение параметра 'stockType': {stock_type}", "stockType")
        include_zero = request.arg("include") == "zeroLines"
        changed_since = None
        if request.arg("changedSince"):
            try:
                changed_since = parse_moment(request.arg("changedSince") or "")
            except ValueError as exc:
                raise ApiError(
                    400, 2017, f"Неверный формат параметра 'changedSince': {exc}", "changedSince"
                ) from exc
            if changed_since < now_msk() - timedelta(hours=24):
                raise ApiError(
                    400, 2017, "Параметр 'changedSince' не может быть раньше, чем сутки назад", "changedSince"
                )
        assortment_ids: set[str] = set()
        store_ids: set[str] = set()
        for part in (request.arg("filter") or "").split(";"):
            name, _, values = part.partition("=")
            if name == "assortmentId":
                assortment_ids.update(v for v in values.split(",") if v)
            elif name == "storeId":
                store_ids.update(v for v in values.split(",") if v)
        with self.lock:
            if changed_since is not None:
                keys = {k for k, moment in self.stock_changed.items() if moment >= changed_since}
            elif include_zero:
                keys = set(self.stock) | set(self.reserves)
                for product_id, product in self.products.items():
                    for store_id in self.stores:
                        for assortment in product.get("_consignments") or [product_id]:
                            keys.add((assortment, store_id))
            else:
                keys = set(self.stock) | {k for k, v in self.reserves.items() if v}
            if assortment_ids:
                expanded = set(assortment_ids)
                for product_id in assortment_ids:
                    expanded.update(self.products.get(product_id, {}).get("_consignments", []))
                keys = {k for k in keys if k[0] in expanded} | (
                    {(a, s) for a in expanded for s in self.stores} if include_zero else set()
                )
            if store_ids:
                keys = {k for k in keys if k[1] in store_ids}
            totals: dict[tuple, float] = defaultdict(float)
            for assortment, store in keys:
                stock, reserve, transit = self._cell(assortment, store)
                value = {
                    "stock": stock,
                    "freeStock": stock - reserve,
                    "quantity": stock - reserve + transit,
                    "reserve": reserve,
                    "inTransit": transit,
                }[stock_type]
                totals[(assortment, store) if report == "bystore" else (assortment,)] += value
            rows = []
            for key, value in totals.items():
                if not value and not include_zero and changed_since is None:
                    continue
                row = {"assortmentId": key[0]}
                if report == "bystore":
                    row["storeId"] = key[1]
                row[stock_type] = value
                rows.append(row)
        return json_response(rows)

    # ------------------------------------------------------------------ webhooks
    def emit(
        self,
        kind: str,
        entity_id: str,
        action: str,
        request: Request | None = None,
        fields: list[str] | None = None,
    ) -> None:
        prefix = (request.header("x-lognex-webhook-disablebyprefix") if request else None) or ""
        for hook in list(self.webhooks.values()):
            if hook["entityType"] != kind or hook["action"] != action or not hook.get("enabled", True):
                continue
            if prefix and hook["url"].startswith(prefix):
                self.webhook_suppressed += 1
                continue
            event: dict[str, Any] = {
                "meta": {"type": kind, "href": f"{self.api}/entity/{kind}/{entity_id}"},
                "action": action,
                "accountId": ACCOUNT_ID,
            }
            if hook.get("diffType") == "FIELDS" and action == "UPDATE":
                event["updatedFields"] = fields or []
            body = {
                "auditContext": {
                    "meta": {"type": "audit", "href": f"{self.api}/audit/{new_id()}"},
                    "uid": self.login,
                    "moment": stamp()[:19],
                },
                "events": [event],
            }
            self.dispatcher.submit(hook["url"], body)

    # ------------------------------------------------------------------ control endpoints (ERP-side actions)
    def _control_body(self, request: Request) -> dict:
        body = request.json() or {}
        if not isinstance(body, dict):
            raise ApiError(400, 0, "control payload must be a JSON object")
        return body

    def _product_from(self, body: dict) -> dict:
        if body.get("id") or body.get("product"):
            return self._find("product", body.get("id") or body.get("product"))
        for product in self.products.values():
            if product.get("article") == body.get("article"):
                return product
        raise ApiError(404, 1021, f"product {body.get('article')!r} not found")

    def _pack_from(self, item: dict) -> dict:
        uom = str(item.get("uom") or "")
        uom_id = uom if uom in self.uoms else next((u["id"] for u in self.uoms.values() if u["code"] == uom), None)
        if uom_id is None:
            raise ApiError(404, 1021, f"uom {uom!r} not found")
        return {
            "id": item.get("id") or str(uuid.uuid4()),
            "uom": uom_id,
            "quantity": float(item.get("quantity", 1)),
            "barcodes": [{"ean13": str(code)} for code in item.get("barcodes", [])],
        }

    def _store_from(self, value: str | None) -> str:
        if not value:
            return next(iter(self.stores))
        if value in self.stores:
            return value
        for store in self.stores.values():
            if store["name"] == value:
                return store["id"]
        raise ApiError(404, 1021, f"store {value!r} not found")

    def _control(self, fn, request: Request, **kwargs) -> Response:
        try:
            with self.lock:
                return json_response(fn(self._control_body(request), **kwargs))
        except ApiError as exc:
            return exc.response()

    def control_stock(self, request: Request) -> Response:
        def apply(body: dict) -> dict:
            changes = body.get("changes") or [body]
            for change in changes:
                product = self._product_from(change)
                store = self._store_from(change.get("store"))
                assortment = change.get("consignment") or product["id"]
                cell = self.stock.setdefault((assortment, store), [0.0, 0.0])
                if "stock" in change:
                    cell[0] = float(change["stock"])
                cell[0] += float(change.get("delta", 0))
                if "inTransit" in change:
                    cell[1] = float(change["inTransit"])
                self._touch_stock((assortment, store))
            return {"changed": len(changes)}

        return self._control(apply, request)

    def control_product(self, request: Request) -> Response:
        def apply(body: dict) -> dict:
            product = self._product_from(body)
            changed = []
            for field in ("name", "archived", "vat", "vatEnabled", "code", "description"):
                if field in body and product.get(field) != body[field]:
                    product[field] = body[field]
                    changed.append(field)
            for type_key, roubles in (body.get("prices") or {}).items():
                index = next(
                    (i for i, pt in enumerate(self.price_types) if type_key in (pt["id"], pt["name"])), None
                )
                if index is None:
                    raise ApiError(404, 1021, f"price type {type_key!r} not found")
                value = float(round(float(roubles) * 100))
                if product["_prices"][index] != value:
                    product["_prices"][index] = value
                    changed.append("salePrices")
            if "barcodes" in body:  # a list of EAN-13 codes replaces the product's own barcodes
                barcodes = [{"ean13": str(code)} for code in body["barcodes"]]
                if product.get("barcodes") != barcodes:
                    product["barcodes"] = barcodes
                    changed.append("barcodes")
            if "packs" in body:  # [{"id"?, "uom": OKEI code or uom id, "quantity", "barcodes": [...]}]
                packs = [self._pack_from(item) for item in body["packs"]]
                if product.get("_packs") != packs:
                    product["_packs"] = packs
                    changed.append("packs")
            if changed:
                product["updated"] = stamp()
                self.emit("product", product["id"], "UPDATE", None, changed)
            return {"id": product["id"], "changed": changed, "updated": product["updated"]}

        return self._control(apply, request)

    def control_new_product(self, request: Request) -> Response:
        """A product a buyer adds in the ERP: `name`, `article`, optional `like` (article or id of a product whose
        unit, folder, VAT and prices it takes). Emits CREATE."""

        def apply(body: dict) -> dict:
            if not body.get("name") or not body.get("article"):
                raise ApiError(400, 0, "name and article are required")
            template = self._product_from({"article": body["like"]} if body.get("like") else {"id": next(iter(self.products))})
            product_id = new_id()
            record = {
                **{k: v for k, v in template.items() if k not in ("_packs", "_consignments", "barcodes")},
                "id": product_id, "name": body["name"], "article": body["article"], "code": body["article"].lower(),
                "externalCode": body["article"], "archived": False, "updated": stamp(),
                "_prices": list(template["_prices"]), "_packs": [], "_consignments": [], "barcodes": [],
            }
            self.products[product_id] = record
            self.emit("product", product_id, "CREATE", None, None)
            return {"id": product_id, "updated": record["updated"]}

        return self._control(apply, request)

    def control_order_positions(self, request: Request, entity_id: str) -> Response:
        def apply(body: dict) -> dict:
            order = self._find("customerorder", entity_id)
            positions = []
            for item in body.get("positions", []):
                product = self._product_from(item) if ("article" in item or "product" in item) else None
                kind = "bundle" if item.get("bundle") else "product"
                assortment = item.get("bundle") or (product["id"] if product else item.get("assortment"))
                positions.append(
                    {
                        "assortment": {"meta": {"href": f"/entity/{kind}/{assortment}", "type": kind}},
                        **{
                            k: v
                            for k, v in item.items()
                            if k in ("quantity", "price", "discount", "vat", "vatEnabled", "reserve")
                        },
                    }
                )
            self.update_order(order, {"positions": positions}, None)
            return self.render_customerorder(order, {"positions"})

        return self._control(apply, request)

    def control_order_state(self, request: Request, entity_id: str) -> Response:
        def apply(body: dict) -> dict:
            order = self._find("customerorder", entity_id)
            state = next((s for s in self.states if s["name"] == body.get("name")), None)
            if state is None:
                raise ApiError(404, 1021, f"state {body.get('name')!r} not found")
            self.update_order(order, {"state": {"meta": self.state_meta(state["id"])}}, None)
            return {"state": state["name"]}

        return self._control(apply, request)

    def control_demand(self, request: Request) -> Response:
        def apply(body: dict) -> dict:
            order = self._find("customerorder", body.get("order") or "")
            template = self.document_template("demand", order)
            if not template.get("store"):
                template["store"] = self.ref("store", next(iter(self.stores)))
            if body.get("positions"):
                template["positions"] = {
                    "rows": [
                        {**row, "quantity": float(q)}
                        for row, q in zip(template["positions"]["rows"], body["positions"], strict=False)
                        if float(q) > 0
                    ]
                }
            return self.render_demand(self.create_document("demand", template, None), {"positions"})

        return self._control(apply, request)

    def control_payment(self, request: Request) -> Response:
        def apply(body: dict) -> dict:
            order = self._find("customerorder", body.get("order") or "")
            template = self.document_template("paymentin", order)
            if "sum" in body:
                template["operations"][0]["linkedSum"] = float(body["sum"])
                template["sum"] = float(body["sum"])
            template["incomingNumber"] = body.get("incomingNumber", "")
            return self.render_paymentin(self.create_document("paymentin", template, None), set())

        return self._control(apply, request)

    def control_webhook_trigger(self, request: Request) -> Response:
        def apply(body: dict) -> dict:
            self.emit(body["entityType"], body["id"], body.get("action", "UPDATE"), None, body.get("fields"))
            return {"queued": True}

        return self._control(apply, request)

    def control_webhook_drain(self, request: Request) -> Response:
        drained = self.dispatcher.drain(float((request.json() or {}).get("timeout", 30)))
        return json_response(
            {"drained": drained, "counts": dict(self.dispatcher.counts), "log": list(self.dispatcher.log)}
        )

    def control_webhook_faults(self, request: Request) -> Response:
        """Webhook delivery faults: {"duplicate": bool, "reorder_every": n, "lose_every": n} (0 = off)."""
        body = self._control_body(request)
        unknown = set(body) - {"duplicate", "reorder_every", "lose_every"}
        if unknown:
            return json_response({"error": f"unknown webhook fault fields: {sorted(unknown)}"}, 400)
        dispatcher = self.dispatcher
        dispatcher.duplicate = bool(body.get("duplicate", dispatcher.duplicate))
        dispatcher.reorder_every = int(body.get("reorder_every", dispatcher.reorder_every))
        dispatcher.lose_every = int(body.get("lose_every", dispatcher.lose_every))
        return json_response({"duplicate": dispatcher.duplicate, "reorder_every": dispatcher.reorder_every,
                              "lose_every": dispatcher.lose_every})

    def control_stock_webhooks(self, request: Request) -> Response:
        with self.lock:
            return json_response({"sent": self.announce_stock()})

    def control_sales_return(self, request: Request) -> Response:
        """A return of goods against a demand (all of it, or `positions`: quantities in the demand's order)."""

        def apply(body: dict) -> dict:
            demand = self._find("demand", body.get("demand") or "")
            quantities = body.get("positions")
            rows = [
                {
                    "quantity": float(q) if quantities else p["quantity"],
                    "price": p["price"],
                    "discount": p["discount"],
                    "vat": p["vat"],
                    "vatEnabled": p["vatEnabled"],
                    "assortment": self.ref(p["type"], p["assortment"]),
                }
                for p, q in zip(demand["_positions"], quantities or demand["_positions"], strict=False)
                if not quantities or float(q) > 0
            ]
            body = {
                "organization": self.ref("organization", demand["organization"]),
                "agent": self.ref("counterparty", demand["agent"]),
                "store": self.ref("store", demand["store"]),
                "demand": self.ref("demand", demand["id"]),
                "positions": rows,
            }
            return self.render_salesreturn(self.create_document("salesreturn", body, None), {"positions"})

        return self._control(apply, request)

    def control_entities(self, request: Request, kind: str) -> Response:
        try:
            with self.lock:
                table = self._table(kind)
                terms = parse_filter(request.arg("filter"))
                rows = apply_filter(list(table.values()), terms)
                return json_response([self.render(kind, row, {"positions"}) for row in rows])
        except ApiError as exc:
            return exc.response()
