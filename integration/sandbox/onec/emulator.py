"""The 1C:Enterprise standard OData (v3) emulator: a published base of УТ 11, КА 2 or ERP 2, in memory.

Served under `/<publication>/odata/standard.odata/` with HTTP Basic auth (the login UTF-8, often Cyrillic; 401
without). Speaks what the reference documents (§1 and additions §1): `$metadata` (EDMX), JSON only when asked
(`$format=json`, `;odata=nometadata` drops `odata.metadata` and the navigation links), GUID keys `(guid'…')`,
`$select/$filter/$orderby/$top/$skip/$inlinecount`, `/$count`, virtual tables `Balance(...)` and `SliceLast(...)`,
`POST <set>` → 201, `PATCH`, `DELETE`, `…/Post` and `…/Unpost` → 200 with register movements, errors as
`{"odata.error": {"code", "message": {"lang", "value"}}}`.

Assumptions (no source confirms them; they are the emulator's, the adapter must not rely on more):
- the publication pool (`poolSize` of default.vrd) refuses a request past it with 503 (Apache answers it when no
  session is free before `poolTimeout`);
- error codes other than 13 (tabular row POST) and -1 (internal) are ours: 6 = unknown property, 9 = not found,
  14 = bad query, 15 = posting refused;
- posting a customer order reserves each goods row whose `ВариантОбеспечения` is `СоСклада` or `Отгрузить`
  in `СвободныеОстатки.ВРезервеСоСклада` (kits on their components); no stock control on posting;
- a `PATCH` of a posted document keeps its movements until it is posted again;
- a virtual table (`Balance`, `SliceLast`) paged without `$orderby` comes in no fixed order from one request to
  the next (each is computed again): the sandbox turns it round on every other page;
- without `$format=json` real 1C answers Atom XML; the sandbox answers 406 instead.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import orjson

from integration.sandbox import demo_company as demo
from integration.sandbox.base import Emulator, Request, Response, json_response
from integration.sandbox.onec import schema
from integration.sandbox.onec.query import (
    QueryError,
    comparable,
    key_equalities,
    parse_call_args,
    parse_filter,
)
from integration.sandbox.onec.seeding import EMPTY, ORGANIZATION, Seeder, demo_records, num

MSK = timezone(timedelta(hours=3))
RESERVING = ("СоСклада", "Отгрузить")
INFO_DIMENSIONS = {
    "InformationRegister_ЦеныНоменклатуры": ("ВидЦены_Key", "Номенклатура_Key", "Характеристика_Key"),
    "InformationRegister_ЦеныНоменклатуры25": ("ВидЦены_Key", "Номенклатура_Key", "Характеристика_Key"),
}
NUMBER_PREFIX = {"Document_ЗаказКлиента": "ЭС00-", "Document_СчетНаОплатуКлиенту": "ЭССЧ-",
                 "Document_РеализацияТоваровУслуг": "ЭСРТ-", "Document_ПоступлениеБезналичныхДенежныхСредств": "ЭСПБ-",
                 "Document_ПриходныйКассовыйОрдер": "ЭСПК-"}


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return json_response({"odata.error": {"code": self.code, "message": {"lang": "ru", "value": self.message}}},
                             self.status)


def now_msk() -> str:
    return datetime.now(MSK).strftime("%Y-%m-%dT%H:%M:%S")


class OneCEmulator(Emulator):
    name = "onec"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.profile = str(self.options.get("profile", "ut11"))
        self.login = str(self.options.get("login", "Администратор"))
        self.password = str(self.options.get("password", "sandbox"))
        self.publication = str(self.options.get("publication", "demo"))
        self.pool_size = int(self.options.get("pool_size", 10))
        self.omitted = set(self.options.get("omit") or [])
        self.prefix = f"/{self.publication}/odata/standard.odata/"
        self.pool_lock = threading.Lock()
        self.in_flight = self.max_in_flight = self.pool_rejections = self.requests = 0
        self._register_controls()
        self.reset()

    # ------------------------------------------------------------------ storage
    def reset(self) -> None:
        with self.lock:
            self.sets = schema.entity_sets(self.profile)
            self.published = {name for name in self.sets if name not in self.omitted}
            self.tables: dict[str, Any] = {
                name: ({} if fields[0][0] == "Ref_Key" else []) for name, fields in self.sets.items()}
            # register → dimensions' key → (dimensions, resources' balances)
            self.balances: dict[str, dict[tuple, tuple[dict, dict[str, Decimal]]]] = defaultdict(dict)
            self.movements: dict[str, list[dict]] = defaultdict(list)
            self.version = 0
            self.numbers: dict[str, int] = defaultdict(int)
            self._slices: dict[tuple, list[dict]] = {}
            # A virtual table is computed once per (register, parameters) until the next movement: pages of it
            # (`$top/$skip`) then slice the same result, as a real server's query plan would not, but cheaply.
            self._balance_cache: dict[tuple, list[dict]] = {}
            # (register, dimension) → its value → the register's balance entries: a Condition on one dimension
            # (one warehouse, a batch of products) reads its entries only, not the whole register.
            self._balance_index: dict[tuple[str, str], dict[str, list[tuple[dict, dict[str, Decimal]]]]] = {}
            self._views: dict[tuple, list[dict]] = {}  # (path, $filter, $orderby) → the filtered, ordered rows
            self.work_ms = int(self.options.get("work_ms", 0))
            # The web server's request-line limit (Apache LimitRequestLine: 8190 by default): longer → 414.
            self.max_request_line = int(self.options.get("max_request_line", 8190))
            self.metadata = schema.metadata_xml({n: f for n, f in self.sets.items() if n in self.published})

    @property
    def price_register(self) -> str:
        return next(name for name in self.sets if name.startswith("InformationRegister_ЦеныНоменклатуры"))

    def next_version(self) -> str:
        self._views.clear()
        self.version += 1
        return base64.b64encode(self.version.to_bytes(8, "big")).decode("ascii")

    def insert(self, set_name: str, row: dict) -> dict:
        table = self.tables[set_name]
        full = {field: _default(edm) for field, edm in self.sets[set_name]}
        full.update(row)
        if isinstance(table, dict):
            given = row.get("Ref_Key")
            full["Ref_Key"] = str(given).lower() if given and given != EMPTY else str(uuid.uuid4())
            full["DataVersion"] = self.next_version()
            table[full["Ref_Key"]] = full
        else:
            full.pop("DataVersion", None)
            table.append(full)
            self._slices.clear()
            self._views.clear()
        return full

    def add_balance(self, register: str, dims: dict, resources: dict) -> None:
        self._balance_cache.clear()
        self._balance_index.clear()
        self._views.clear()
        key = tuple(sorted(dims.items()))
        entry = self.balances[register].get(key)
        if entry is None:
            entry = self.balances[register][key] = (dict(dims), {})
        current = entry[1]
        for name, value in resources.items():
            current[name] = current.get(name, Decimal(0)) + Decimal(str(value))

    def seed(self, options: dict[str, Any]) -> dict[str, Any]:
        dataset = options.get("dataset", "demo")
        with self.lock:
            if dataset == "demo":
                return Seeder(self).seed(demo_records())
            if dataset == "scale":
                records = demo.generate_scale(int(options.get("products", 1000)), int(options.get("warehouses", 5)),
                                              int(options.get("price_lists", 3)))
                # Benchmark scale: the current prices only (300,000 rows of history would double the memory).
                return Seeder(self, price_history=bool(options.get("price_history", False))).seed(records)
        return {"error": f"unknown dataset {dataset}"}

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "max_in_flight": self.max_in_flight,
                "pool_rejections": self.pool_rejections, "pool_size": self.pool_size}

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: Request) -> Response:
        if not request.path.startswith(self.prefix) and request.path != self.prefix.rstrip("/"):
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        if len(quote(request.path, safe="/$,'()=:")) + len(request.raw_query) + 1 > self.max_request_line:
            return Response(414, b"Request-URI Too Long", {"Content-Type": "text/plain"})
        if not self._authorized(request):
            return Response(401, b"", {"WWW-Authenticate": 'Basic realm="1C:Enterprise"'})
        with self.pool_lock:
            self.requests += 1
            if self.in_flight >= self.pool_size:
                self.pool_rejections += 1
                return Response(503, "Нет свободных сеансов в пуле публикации".encode(),
                                {"Content-Type": "text/plain; charset=utf-8"})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.work_ms:
                time.sleep(self.work_ms / 1000)
            return self._route(request)
        except ODataError as exc:
            return exc.response()
        except QueryError as exc:
            return ODataError(400, "14", str(exc)).response()
        finally:
            with self.pool_lock:
                self.in_flight -= 1

    def _authorized(self, request: Request) -> bool:
        header = request.header("authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            login, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return login == self.login and password == self.password

    def _route(self, request: Request) -> Response:
        rest = request.path[len(self.prefix):]
        if rest == "$metadata":
            return Response(200, self.metadata.encode(), {"Content-Type": "application/xml; charset=utf-8"})
        set_name, key, tail = _split(rest)
        if set_name not in self.published:
            parent = next((s for s in self.published if set_name.startswith(s + "_")), None)
            if parent and request.method == "POST":
                raise ODataError(400, "13", "Cоздание строк табличной части напрямую не поддерживается")
            raise ODataError(404, "9", f"Не найден объект с именем {set_name} (Entity not found)")
        fmt = (request.arg("$format") or "").lower()
        accept = (request.header("accept") or "").lower()
        answers_data = not (key is not None and tail in ("Post", "Unpost")) and tail != "$count"
        if answers_data and not fmt.startswith("json") and "application/json" not in accept:
            raise ODataError(406, "14", "The sandbox answers JSON only: add $format=json")
        bare = "nometadata" in fmt or "nometadata" in accept
        with self.lock:
            if key is None and tail is None:
                if request.method == "GET":
                    return self._list(request, set_name, list(self._rows(set_name)), bare)
                if request.method == "POST":
                    return self._create(request, set_name, bare)
            elif key is None and tail == "$count":
                predicate = parse_filter(request.arg("$filter") or "")
                rows = [r for r in self._rows(set_name) if predicate(r)]
                return Response(200, str(len(rows)).encode(), {"Content-Type": "text/plain; charset=utf-8"})
            elif key is None:
                return self._virtual(request, set_name, tail, bare)
            else:
                row = self._get(set_name, key)
                if tail is None and request.method == "GET":
                    return self._entity(set_name, row, bare, request)
                if tail is None and request.method == "PATCH":
                    self._patch(set_name, row, request.json() or {})
                    return self._entity(set_name, row, bare, request)
                if tail is None and request.method == "DELETE":
                    self._unpost(set_name, row)
                    del self.tables[set_name][row["Ref_Key"]]
                    self._views.clear()
                    return Response(204)
                if tail in ("Post", "Unpost") and request.method == "POST" and set_name.startswith("Document_"):
                    if tail == "Post":
                        self._post(set_name, row)
                    else:
                        self._unpost(set_name, row)
                    return Response(200)
        raise ODataError(400, "14", f"{request.method} {rest} is not supported")

    # ------------------------------------------------------------------ reads
    def _rows(self, set_name: str):
        table = self.tables[set_name]
        if isinstance(table, dict):
            return table.values()
        if set_name.startswith("AccumulationRegister_"):
            return self.movements[set_name]
        return table

    def _get(self, set_name: str, key: str) -> dict:
        match = re.fullmatch(r"guid'([0-9a-fA-F-]{36})'", key.strip())
        table = self.tables[set_name]
        if not match or not isinstance(table, dict):
            raise ODataError(400, "14", f"bad key {key!r}")
        row = table.get(match.group(1).lower())
        if row is None:
            raise ODataError(404, "9", f"Объект не найден: {set_name}(guid'{match.group(1)}')")
        return row

    def _list(self, request: Request, set_name: str, rows: list[dict], bare: bool,
              fields: list[str] | None = None, computed: bool = False) -> Response:
        view = (request.path, request.arg("$filter") or "", request.arg("$orderby") or "")
        if view in self._views:
            rows = self._views[view]  # the next page of the same listing, nothing written in between
        else:
            predicate = parse_filter(view[1])
            rows = [r for r in rows if predicate(r)]
            terms = [(name, direction.strip().lower() == "desc")
                     for name, _, direction in (t.strip().partition(" ") for t in view[2].split(",") if t.strip())]
            if terms and len({desc for _, desc in terms}) == 1:  # one pass when every term goes the same way
                names = [name for name, _ in terms]
                rows.sort(key=lambda r: tuple(_sort_key(r.get(n)) for n in names), reverse=terms[0][1])
            else:
                for name, desc in reversed(terms):
                    rows.sort(key=lambda r, n=name: _sort_key(r.get(n)), reverse=desc)
            if len(self._views) > 32:
                self._views.clear()
            self._views[view] = rows
        total = len(rows)
        skip = _int_arg(request, "$skip", 0)
        top = _int_arg(request, "$top", None)
        if computed and not view[2] and top and (skip // top) % 2:
            # 1C computes a virtual table again for every request and, unordered, in no fixed order: the sandbox
            # turns it round on every other page, so paging it without $orderby loses and repeats rows here too.
            rows = rows[::-1]
        rows = rows[skip: None if top is None else skip + top]
        known = fields or [f for f, _ in self.sets[set_name]]
        selected = self._selection(request, known)
        body: dict[str, Any] = {}
        if not bare:
            body["odata.metadata"] = f"{self.base_url}{self.prefix}$metadata#{set_name}"
        if request.arg("$inlinecount") == "allpages":
            body["odata.count"] = str(total)
        body["value"] = [self._present(set_name, r, selected, bare) for r in rows]
        return _fast(body)

    def _selection(self, request: Request, known: list[str]) -> list[str]:
        raw = request.arg("$select")
        if not raw or raw.strip() == "*":
            return known
        selected = [f.strip() for f in raw.split(",") if f.strip()]
        unknown = [f for f in selected if f not in known and f != "*"]
        if unknown:
            raise ODataError(400, "6", f"Неизвестное свойство в $select: {', '.join(unknown)}")
        return [f for f in known if f in selected or "*" in selected]

    def _present(self, set_name: str, row: dict, fields: list[str], bare: bool) -> dict:
        out = {f: _wire(row.get(f)) for f in fields}
        if not bare and "Ref_Key" in row:
            for f in fields:
                if f.endswith("_Key") and f != "Ref_Key":
                    out[f"{f[:-4]}@navigationLinkUrl"] = f"{set_name}(guid'{row['Ref_Key']}')/{f[:-4]}"
        return out

    def _entity(self, set_name: str, row: dict, bare: bool, request: Request, status: int = 200) -> Response:
        body = self._present(set_name, row, self._selection(request, [f for f, _ in self.sets[set_name]]), bare)
        if not bare:
            body = {"odata.metadata": f"{self.base_url}{self.prefix}$metadata#{set_name}/@Element", **body}
        return _fast(body, status)

    def _virtual(self, request: Request, set_name: str, tail: str, bare: bool) -> Response:
        match = re.fullmatch(r"(Balance|SliceLast)\((.*)\)", tail, re.DOTALL)
        if not match:
            raise ODataError(404, "9", f"Entity not found: {set_name}/{tail}")
        function, args = match.group(1), parse_call_args(match.group(2))
        if function == "Balance" and set_name in schema.BALANCE_RESOURCES:
            rows = self._balance(set_name, args)
            fields = list(rows[0]) if rows else self._balance_fields(set_name, args)
            return self._list(request, set_name, rows, bare, fields or None, computed=True)
        if function == "SliceLast" and set_name in INFO_DIMENSIONS:
            rows = self._slice_last(set_name, args)
            return self._list(request, set_name, rows, bare, [f for f, _ in self.sets[set_name] if f != "Period"]
                              + ["Period"], computed=True)
        raise ODataError(400, "14", f"{function} is not available on {set_name}")

    def _balance_fields(self, register: str, args: dict) -> list[str]:
        dims = _dimensions(register, self.sets[register], args)
        return dims + [f"{r}Balance" for r in schema.BALANCE_RESOURCES[register]]

    def _balance(self, register: str, args: dict) -> list[dict]:
        key = (register, args.get("Dimensions", ""), args.get("Condition", ""))
        if key not in self._balance_cache:
            if len(self._balance_cache) >= 8:
                self._balance_cache.clear()  # listings page through _views; this only spares recomputing
            self._balance_cache[key] = self._compute_balance(register, args)
        return self._balance_cache[key]

    def _balance_entries(self, register: str, condition: str) -> list[tuple[dict, dict[str, Decimal]]]:
        """The entries a Condition may select: through the index when it names keys of one dimension."""
        hint = key_equalities(condition)
        if hint is None:
            return list(self.balances[register].values())
        field, keys = hint
        index = self._balance_index.get((register, field))
        if index is None:
            index = self._balance_index[(register, field)] = defaultdict(list)
            for entry in self.balances[register].values():
                index[str(entry[0].get(field, EMPTY)).lower()].append(entry)
        return [entry for key in keys for entry in index.get(key, ())]

    def _compute_balance(self, register: str, args: dict) -> list[dict]:
        dims = _dimensions(register, self.sets[register], args)
        condition = parse_filter(args.get("Condition", ""))
        resources = schema.BALANCE_RESOURCES[register]
        totals: dict[tuple, dict[str, Decimal]] = {}
        for record, values in self._balance_entries(register, args.get("Condition", "")):
            if not condition(record):
                continue
            group = tuple(record.get(d, EMPTY) for d in dims)
            acc = totals.setdefault(group, {})
            for name, value in values.items():
                acc[name] = acc.get(name, Decimal(0)) + value
        rows = []
        for group, acc in totals.items():
            if all(not acc.get(r) for r in resources):
                continue  # a balance table has no rows for zero balances
            rows.append({**dict(zip(dims, group, strict=True)),
                         **{f"{r}Balance": num(acc.get(r, Decimal(0))) for r in resources}})
        return rows

    def _slice_last(self, register: str, args: dict) -> list[dict]:
        period = args.get("Period", "")
        cache_key = (register, period, args.get("Condition", ""))
        cached = self._slices.get(cache_key)
        if cached is not None:
            return cached
        limit = parse_filter(f"Period le {period}") if period else None
        condition = parse_filter(args.get("Condition", ""))
        dims = INFO_DIMENSIONS[register]
        latest: dict[tuple, dict] = {}
        for row in self.tables[register]:
            if (limit and not limit(row)) or not condition(row):
                continue
            group = tuple(row.get(d) for d in dims)
            if group not in latest or latest[group]["Period"] <= row["Period"]:
                latest[group] = row
        rows = list(latest.values())
        self._slices[cache_key] = rows
        return rows

    # ------------------------------------------------------------------ writes
    def _check_body(self, set_name: str, body: dict) -> None:
        if not isinstance(body, dict):
            raise ODataError(400, "6", "Тело запроса должно быть объектом JSON")
        if "Posted" in body:
            raise ODataError(400, "6", "Свойство Posted изменяется только проведением (Post/Unpost)")
        types = dict(self.sets[set_name])
        unknown = [f for f in body if f not in types and not f.endswith("@odata.type")]
        if unknown:
            raise ODataError(400, "6", f"Неизвестное свойство: {', '.join(unknown)}")
        for field, value in body.items():
            edm = types.get(field, "")
            if edm.startswith("Collection("):
                if not isinstance(value, list) or any(not isinstance(r, dict) or "LineNumber" not in r for r in value):
                    raise ODataError(400, "6", f"{field}: каждая строка табличной части должна иметь LineNumber")
            elif edm == schema.G and value and not re.fullmatch(r"[0-9a-fA-F-]{36}", str(value)):
                raise ODataError(400, "6", f"{field}: неверный GUID {value!r}")

    def _create(self, request: Request, set_name: str, bare: bool) -> Response:
        if not set_name.startswith(("Catalog_", "Document_")):
            raise ODataError(400, "14", f"Создание записей {set_name} через OData не поддерживается")
        body = request.json()
        self._check_body(set_name, body)
        row = dict(body)
        row.pop("Ref_Key", None)
        if set_name.startswith("Document_"):
            self.numbers[set_name] += 1
            row.setdefault("Number", f"{NUMBER_PREFIX.get(set_name, 'ЭС-')}{self.numbers[set_name]:06d}")
            row.setdefault("Date", now_msk())
            row["Posted"] = False
        created = self.insert(set_name, _rows_normalised(row))
        return self._entity(set_name, created, bare, request, 201)

    def _patch(self, set_name: str, row: dict, body: dict) -> None:
        self._check_body(set_name, body)
        body = {k: v for k, v in body.items() if k != "Ref_Key"}
        row.update(_rows_normalised(body))
        row["DataVersion"] = self.next_version()

    def _record(self, register: str, recorder: dict, set_name: str, kind: str, dims: dict, resources: dict) -> None:
        if register not in self.sets:
            return
        movements = self.movements[register]
        line = sum(1 for m in movements if m["Recorder"] == recorder["Ref_Key"]) + 1
        movements.append({"Recorder": recorder["Ref_Key"], "Recorder_Type": f"StandardODATA.{set_name}",
                          "Period": recorder.get("Date") or now_msk(), "LineNumber": line, "Active": True,
                          "RecordType": kind, **dims, **{k: num(Decimal(str(v))) for k, v in resources.items()}})
        sign = 1 if kind == "Receipt" else -1
        self.add_balance(register, dims, {k: sign * Decimal(str(v)) for k, v in resources.items()})

    def _post(self, set_name: str, row: dict) -> None:
        if row.get("DeletionMark"):
            raise ODataError(400, "15", "Помеченный на удаление документ не может быть проведен")
        self._unpost(set_name, row)
        if set_name == "Document_ЗаказКлиента":
            self._post_order(row)
        elif set_name == "Document_РеализацияТоваровУслуг":
            self._post_shipment(row)
        row["Posted"] = True
        row["DataVersion"] = self.next_version()

    def _unpost(self, set_name: str, row: dict) -> None:
        for register, movements in self.movements.items():
            kept = []
            for movement in movements:
                if movement["Recorder"] != row["Ref_Key"]:
                    kept.append(movement)
                    continue
                sign = -1 if movement["RecordType"] == "Receipt" else 1
                resources = schema.BALANCE_RESOURCES.get(register, ())
                dims = {k: v for k, v in movement.items() if k.endswith("_Key")}
                self.add_balance(register, dims, {r: sign * Decimal(str(movement[r])) for r in resources
                                                  if movement.get(r)})
            self.movements[register] = kept
        if row.get("Posted"):
            row["Posted"] = False
            row["DataVersion"] = self.next_version()

    def _goods(self, product_key: str, quantity: Decimal) -> list[tuple[str, Decimal]]:
        """What a row moves in stock: goods as they are, a kit as its components, a service nothing."""
        product = self.tables["Catalog_Номенклатура"].get(product_key)
        if product is None or product.get("ТипНоменклатуры") == "Услуга":
            return []
        if product.get("ТипНоменклатуры") == "Набор":
            kits = self.tables.get("Catalog_ВариантыКомплектацииНоменклатуры", {})
            kit = next((k for k in kits.values() if k["Owner_Key"] == product_key), None)
            return [(c["Номенклатура_Key"], quantity * Decimal(str(c["Количество"]))) for c in (kit or {}).get("Товары", [])]
        return [(product_key, quantity)]

    def _post_order(self, order: dict) -> None:
        if "AccumulationRegister_СвободныеОстатки" not in self.sets:
            return
        for line in order.get("Товары") or []:
            if line.get("ВариантОбеспечения") not in RESERVING or line.get("Отменено"):
                continue
            warehouse = line.get("Склад_Key") or order.get("Склад_Key") or EMPTY
            for product, quantity in self._goods(line.get("Номенклатура_Key") or EMPTY,
                                                 Decimal(str(line.get("Количество") or 0))):
                dims = {"Номенклатура_Key": product, "Характеристика_Key": EMPTY, "Склад_Key": warehouse}
                self._record("AccumulationRegister_СвободныеОстатки", order, "Document_ЗаказКлиента", "Receipt",
                             dims, {"ВРезервеСоСклада": quantity})

    def _post_shipment(self, shipment: dict) -> None:
        order = self.tables["Document_ЗаказКлиента"].get(shipment.get("ЗаказКлиента_Key") or "")
        reserved: dict[tuple, Decimal] = defaultdict(Decimal)
        if order is not None and order.get("Posted"):
            for m in self.movements["AccumulationRegister_СвободныеОстатки"]:
                if m["Recorder"] == order["Ref_Key"]:
                    reserved[(m["Номенклатура_Key"], m["Склад_Key"])] += Decimal(str(m["ВРезервеСоСклада"]))
            shipments = {ref for ref, doc in self.tables["Document_РеализацияТоваровУслуг"].items()
                         if doc.get("ЗаказКлиента_Key") == order["Ref_Key"]}
            for m in self.movements["AccumulationRegister_СвободныеОстатки"]:
                if m["Recorder"] in shipments and m["RecordType"] == "Expense":
                    reserved[(m["Номенклатура_Key"], m["Склад_Key"])] -= Decimal(str(m.get("ВРезервеСоСклада") or 0))
        warehouse = shipment.get("Склад_Key") or EMPTY
        for line in shipment.get("Товары") or []:
            for product, quantity in self._goods(line["Номенклатура_Key"], Decimal(str(line["Количество"]))):
                dims = {"Номенклатура_Key": product, "Характеристика_Key": EMPTY, "Склад_Key": warehouse}
                self._record("AccumulationRegister_ТоварыНаСкладах", shipment, "Document_РеализацияТоваровУслуг",
                             "Expense", dims, {"ВНаличии": quantity})
                release = min(quantity, max(Decimal(0), reserved[(product, warehouse)]))
                reserved[(product, warehouse)] -= release
                self._record("AccumulationRegister_СвободныеОстатки", shipment, "Document_РеализацияТоваровУслуг",
                             "Expense", dims, {"ВНаличии": quantity, "ВРезервеСоСклада": release})

    # ------------------------------------------------------------------ what 1C users do (control endpoints)
    def _register_controls(self) -> None:
        route = self.router.route

        @route("GET", r"/_control/onec/entities/(?P<set_name>[^/]+)")
        def entities(request: Request, set_name: str) -> Response:
            with self.lock:
                if set_name not in self.sets:
                    return json_response({"error": f"unknown set {set_name}"}, 404)
                predicate = parse_filter(request.arg("filter") or "")
                rows = [r for r in self._rows(set_name) if predicate(r)]
                return _fast([{k: _wire(v) for k, v in r.items()} for r in rows])

        @route("GET", r"/_control/onec/balance/(?P<register>[^/]+)")
        def balance(request: Request, register: str) -> Response:
            with self.lock:
                return _fast(self._balance(register, {"Dimensions": request.arg("dimensions") or ""}))

        @route("POST", r"/_control/onec/tuning")
        def tuning(request: Request) -> Response:
            payload = request.json() or {}
            self.work_ms = int(payload.get("work_ms", self.work_ms))
            self.max_request_line = int(payload.get("max_request_line", self.max_request_line))
            return json_response({"work_ms": self.work_ms, "max_request_line": self.max_request_line})

        @route("POST", r"/_control/onec/ship")
        def ship(request: Request) -> Response:
            payload = request.json() or {}
            with self.lock:
                order = self._control_order(payload)
                lines = _shipped_rows(order, payload.get("quantities"))
                shipment = self._document("Document_РеализацияТоваровУслуг", order, {
                    "Склад_Key": order.get("Склад_Key") or EMPTY, "ЗаказКлиента_Key": order["Ref_Key"],
                    "ЦенаВключаетНДС": order.get("ЦенаВключаетНДС", True), "СуммаДокумента": round(sum(line["СуммаСНДС"] for line in lines), 2), "Товары": lines})
                self._post("Document_РеализацияТоваровУслуг", shipment)
                return _fast(shipment)

        @route("POST", r"/_control/onec/pay")
        def pay(request: Request) -> Response:
            payload = request.json() or {}
            with self.lock:
                order = self._control_order(payload)
                cash = bool(payload.get("cash"))
                set_name = "Document_ПриходныйКассовыйОрдер" if cash else "Document_ПоступлениеБезналичныхДенежныхСредств"
                amount = payload.get("amount", order.get("СуммаДокумента", 0))
                fields = {"СуммаДокумента": amount, "РасшифровкаПлатежа": [
                    {"LineNumber": 1, "ОснованиеПлатежа": order["Ref_Key"],
                     "ОснованиеПлатежа_Type": "StandardODATA.Document_ЗаказКлиента", "Сумма": amount}]}
                fields["Основание" if cash else "НазначениеПлатежа"] = f"Оплата по заказу {order['Number']}"
                payment = self._document(set_name, order, fields)
                self._post(set_name, payment)
                return _fast(payment)

        @route("POST", r"/_control/onec/invoice")
        def invoice(request: Request) -> Response:
            with self.lock:
                order = self._control_order(request.json() or {})
                doc = self._document("Document_СчетНаОплатуКлиенту", order, {
                    "ДокументОснование": order["Ref_Key"], "ДокументОснование_Type": "StandardODATA.Document_ЗаказКлиента",
                    "СуммаДокумента": order.get("СуммаДокумента", 0)})
                self._post("Document_СчетНаОплатуКлиенту", doc)
                return _fast(doc)

    def _control_order(self, payload: dict) -> dict:
        order = self.tables["Document_ЗаказКлиента"].get(str(payload.get("order") or ""))
        if order is None:
            raise ODataError(404, "9", "order not found")
        return order

    def _document(self, set_name: str, order: dict, fields: dict) -> dict:
        self.numbers[set_name] += 1
        return self.insert(set_name, {
            "Number": f"{NUMBER_PREFIX.get(set_name, 'ЭС-')}{self.numbers[set_name]:06d}", "Date": now_msk(),
            "Posted": False, "Организация_Key": order.get("Организация_Key") or ORGANIZATION,
            "Контрагент_Key": order.get("Контрагент_Key") or EMPTY, **fields})

    def not_found(self, request: Request) -> Response:
        return Response(404, b"Not Found", {"Content-Type": "text/plain"})


def _shipped_rows(order: dict, quantities: dict | None) -> list[dict]:
    """The shipment's rows: the order's (all of each, or `quantities` by product key), their amounts the shipped
    share of the order row's, VAT rate and discount carried over as 1C's РеализацияТоваровУслуг does."""
    rows = []
    for line in order.get("Товары") or []:
        whole = line.get("Количество") or 0
        quantity = whole if quantities is None else min(whole, quantities.get(line["Номенклатура_Key"], 0))
        if line.get("Отменено") or not quantity:
            continue
        share = quantity / whole
        rows.append({"LineNumber": len(rows) + 1, "Номенклатура_Key": line["Номенклатура_Key"], "Количество": quantity,
                     "Цена": line.get("Цена", 0), "ПроцентРучнойСкидки": line.get("ПроцентРучнойСкидки", 0),
                     **{key: line[key] for key in ("СтавкаНДС", "СтавкаНДС_Key") if key in line},
                     **{key: round((line.get(key) or 0) * share, 2) for key in ("Сумма", "СуммаНДС", "СуммаСНДС")}})
    return rows


def _split(rest: str) -> tuple[str, str | None, str | None]:
    """`Set`, `Set(guid'…')`, `Set(guid'…')/Post`, `Set/Balance(...)`, `Set/$count` → (set, key, tail)."""
    match = re.match(r"[^/(]+", rest)
    set_name = match.group(0) if match else ""
    remainder = rest[len(set_name):]
    key = tail = None
    if remainder.startswith("("):
        end = remainder.find(")")
        if end < 0:
            raise ODataError(400, "14", "unbalanced key parentheses")
        key, remainder = remainder[1:end], remainder[end + 1:]
    if remainder.startswith("/"):
        tail = remainder[1:]
    elif remainder:
        raise ODataError(400, "14", f"cannot parse {rest!r}")
    return set_name, key, tail


def _dimensions(register: str, fields: list[tuple[str, str]], args: dict) -> list[str]:
    all_dims = [f for f, t in fields if f.endswith("_Key") and t == schema.G]
    wanted = [d.strip() for d in (args.get("Dimensions") or "").split(",") if d.strip()]
    if not wanted:
        return all_dims
    chosen = [f"{d}_Key" for d in wanted]
    unknown = [d for d in chosen if d not in all_dims]
    if unknown:
        raise ODataError(400, "14", f"{register}: неизвестные измерения {', '.join(unknown)}")
    return chosen


def _default(edm: str) -> Any:
    if edm == schema.G:
        return EMPTY
    if edm == schema.B:
        return False
    if edm in (schema.N, schema.INT):
        return 0
    if edm == schema.DT:
        return "0001-01-01T00:00:00"
    if edm.startswith("Collection("):
        return []
    return ""


def _rows_normalised(row: dict) -> dict:
    """Tabular rows get their `Ref_Key` (the owner's key, as 1C presents it) once the owner is known."""
    return {k: ([dict(r) for r in v] if isinstance(v, list) else v) for k, v in row.items()}


def _wire(value: Any) -> Any:
    if isinstance(value, Decimal):
        return num(value)
    return value


def _sort_key(value: Any) -> tuple:
    value = comparable(value)
    return (value is None, str(value) if not isinstance(value, Decimal | bool) else value)


def _int_arg(request: Request, name: str, default: int | None) -> int | None:
    raw = request.arg(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ODataError(400, "14", f"{name}: целое число ожидается") from exc
    if value < 0:
        raise ODataError(400, "14", f"{name}: отрицательное значение")
    return value


def _fast(data: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(data, default=_wire_default),
                    {"Content-Type": "application/json;odata=minimalmetadata;charset=utf-8"})


def _wire_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)

