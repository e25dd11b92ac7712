"""The widget search's one query: a page of active products matching the text (or an exact barcode), each with
its unit, its price in the client's price list, and — as JSON arrays — its active packs, active barcodes,
active kit components, its stock rows and its components' summed per warehouse, and the active reservations
held against it (a kit: against its components). Barcode matches come from an ARRAY(...) InitPlan, so the OR
with the trigram-indexed ILIKEs stays a BitmapOr of index scans.

Which products make the page is read one of two ways, both in the same statement and both exact:
- "scan": the first SCAN_WINDOW active products in article order, filtered. When they hold `offset + limit`
  matches, those are the first matches of all (any later one sorts after them). A common word is found this way
  within a few hundred rows.
- "found": every match (trigram BitmapOr, MATERIALIZED so that it stays one) sorted by article; it runs only when
  the scan came back short. Left to itself the planner walks the article index for both, and for an article
  fragment (ART-0980: 100 matches, all near the end of that index) that walk read 98,000 rows, 75 ms.
A text with a digit, six characters or longer (an article fragment or a barcode: few matches, clustered) skips the
scan; anything else costs the scan at most SCAN_WINDOW rows before the found path.

The statement is PREPAREd once per connection (one per shape: text or not, barcode, client, warehouse) and then
EXECUTEd: planning it took about 1 ms of the ~2.5 ms it costs PostgreSQL, and the two paths above keep the plan
the same whatever the text, so PostgreSQL's generic plan (chosen after five executions) is as good as a fresh one
(EXPLAIN EXECUTE on the bench's data: same shape, planning 0.05 ms)."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson
from django.db import connection
from django.db.models import Count, Min, Q, Sum

from catalog.availability import StockRow
from catalog.models import Barcode, KitComponent, Pack, Price, PriceList, Product, Segment, StockLevel, Unit
from counterparties.models import Counterparty
from integration.widget.leads import known_client_params, known_client_sql
from orders.models import Order, Reservation

ACTIVE_RESERVATIONS = (Reservation.Status.PENDING.value, Reservation.Status.CONFIRMED.value)
SCAN_WINDOW = 5000  # rows of the article index the scan path reads at most (about 5 ms)
SELECTIVE_LENGTH = 6  # a text this long with a digit in it goes to the found path at once
PARAMETER_TYPES = {"q": "text", "like": "text", "limit": "bigint", "offset": "bigint", "need": "bigint",
                   "window": "bigint", "warehouse": "bigint", "active": "text[]", "client": "bigint", "lead": "bigint",
                   "backend": "bigint", "type": "bigint", "external": "text"}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass
class PageRow:
    id: int
    article: str
    name: str
    kind: str
    tracking: str
    vat_rate: str
    unit: dict
    price: Decimal | None
    packs: list[dict]
    barcodes: list[str]
    components: list[tuple[int, Decimal]]
    stock: list[StockRow]
    nulls: set[tuple[int, int]] = field(default_factory=set)  # (product, warehouse) with a row never snapshot
    reservations: list[dict] = field(default_factory=list)


@dataclass
class Page:
    rows: list[PageRow]
    price_list_code: str | None
    currency: str | None
    deal: tuple | None = None  # the row of leads.known_client_sql, when the page read it (and had rows)


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _like(q: str) -> str:
    return "%" + connection.ops.prep_for_like_query(q) + "%"


def _sql(*, text: bool, barcode: bool, client: str, warehouse: bool, deal: bool = False) -> str:
    match = []
    if text:
        match += ["UPPER(p.name::text) LIKE UPPER(%(like)s)", "UPPER(p.article::text) LIKE UPPER(%(like)s)"]
    if barcode:
        match.append(
            f"p.id = ANY(ARRAY(SELECT b.product_id FROM {_t(Barcode)} b WHERE b.value = %(q)s AND b.active "
            f"UNION SELECT k.product_id FROM {_t(Pack)} k WHERE k.barcode = %(q)s AND k.active))"
        )
    columns = "p.id, p.article, p.name, p.kind, p.tracking, p.vat_rate, p.unit_id"
    if match:
        matches = " OR ".join(match)
        page = f"""fast AS MATERIALIZED (
    SELECT p.* FROM (SELECT {columns} FROM {_t(Product)} p WHERE p.active ORDER BY p.article LIMIT %(window)s) p
    WHERE {matches} ORDER BY p.article LIMIT %(need)s
), found AS MATERIALIZED (
    SELECT {columns} FROM {_t(Product)} p WHERE p.active AND ({matches})
), page AS (
    SELECT m.* FROM (SELECT * FROM fast WHERE (SELECT COUNT(*) FROM fast) >= %(need)s
                     UNION ALL
                     SELECT * FROM found WHERE (SELECT COUNT(*) FROM fast) < %(need)s) m
    ORDER BY m.article LIMIT %(limit)s OFFSET %(offset)s
)"""
    else:
        page = f"""page AS (
    SELECT {columns} FROM {_t(Product)} p WHERE p.active ORDER BY p.article LIMIT %(limit)s OFFSET %(offset)s
)"""
    in_warehouse = "AND s.warehouse_id = %(warehouse)s" if warehouse else ""
    held_in_warehouse = "AND r.warehouse_id = %(warehouse)s" if warehouse else ""
    deal_cte = f"deal AS MATERIALIZED ({known_client_sql()}), " if deal else ""
    deal_columns = ", d.known, d.checked_at, d.order_id, d.bound_id, d.client_id, d.merged_into" if deal else ""
    return f"""
WITH {deal_cte}{page}, pl AS (
    SELECT l.id, l.code, l.currency FROM {_t(PriceList)} l WHERE l.id = COALESCE(
        (SELECT g.price_list_id FROM {_t(Counterparty)} c JOIN {_t(Segment)} g ON g.id = c.segment_id
         WHERE c.id = {client}),
        (SELECT d.id FROM {_t(PriceList)} d WHERE d.is_default ORDER BY d.id LIMIT 1))
)
SELECT pg.id, pg.article, pg.name, pg.kind, pg.tracking, pg.vat_rate, u.id, u.okei_code, u.short_name,
    (SELECT pl.code FROM pl), (SELECT pl.currency FROM pl),
    (SELECT pr.amount::text FROM {_t(Price)} pr, pl
     WHERE pr.product_id = pg.id AND pr.price_list_id = pl.id AND pr.active),
    (SELECT json_agg(json_build_array(k.id, k.factor::text, k.barcode, ku.id, ku.okei_code, ku.short_name)
                     ORDER BY k.factor, k.id)
     FROM {_t(Pack)} k JOIN {_t(Unit)} ku ON ku.id = k.unit_id WHERE k.product_id = pg.id AND k.active)::text,
    (SELECT json_agg(b.value ORDER BY b.id) FROM {_t(Barcode)} b WHERE b.product_id = pg.id AND b.active)::text,
    (SELECT json_agg(json_build_array(c.component_id, c.quantity::text))
     FROM {_t(KitComponent)} c WHERE c.kit_id = pg.id AND c.active)::text,
    (SELECT json_agg(json_build_array(t.product_id, t.warehouse_id, t.on_hand::text, t.reserved::text,
                                      t.expected::text, t.at, t.nulls))
     FROM (SELECT s.product_id, s.warehouse_id, SUM(s.on_hand) AS on_hand, SUM(s.reserved) AS reserved,
                  SUM(s.expected) AS expected, MIN(s.snapshot_at) AS at, BOOL_OR(s.snapshot_at IS NULL) AS nulls
           FROM (SELECT s.* FROM {_t(StockLevel)} s WHERE s.product_id = pg.id
                 UNION
                 SELECT s.* FROM {_t(KitComponent)} c JOIN {_t(StockLevel)} s ON s.product_id = c.component_id
                 WHERE c.kit_id = pg.id AND c.active) s
           WHERE TRUE {in_warehouse}
           GROUP BY s.product_id, s.warehouse_id) t)::text,
    (SELECT json_agg(json_build_array(r.id, r.product_id, r.warehouse_id, r.batch_id, r.quantity::text, r.status,
                                      r.confirmed_at, r.order_id))
     FROM (SELECT r.* FROM {_t(Reservation)} r WHERE r.product_id = pg.id
           UNION
           SELECT r.* FROM {_t(KitComponent)} c JOIN {_t(Reservation)} r ON r.product_id = c.component_id
           WHERE pg.kind = 'kit' AND c.kit_id = pg.id AND c.active) r
     WHERE r.status = ANY(%(active)s) {held_in_warehouse})::text{deal_columns}
FROM page pg JOIN {_t(Unit)} u ON u.id = pg.unit_id{" CROSS JOIN deal d" if deal else ""}
ORDER BY pg.article
"""


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _unit(pk, okei_code, short_name) -> dict:
    return {"id": pk, "okei_code": okei_code, "short_name": short_name}


def read_page(*, q: str, barcode: bool, counterparty_id: int | None, lead_id: int | None,
              warehouse_id: int | None, offset: int, limit: int, deal_of: int | None = None) -> Page:
    """`limit` products from `offset` (by article) with everything the answer needs, in one query. `q` "" matches
    every active product; `barcode`: q may also be an exact barcode of a product or a pack. `deal_of` (a backend
    id, with lead_id and no counterparty_id): the page also reads leads.known_client's row for the deal (Page.deal)
    and prices for the client that row names; the caller reads the page again when that row does not decide."""
    selective = len(q) >= SELECTIVE_LENGTH and any(char.isdigit() for char in q)
    params = {"q": q, "like": _like(q), "limit": limit, "offset": offset, "need": offset + limit,
              "window": 0 if selective else SCAN_WINDOW, "warehouse": warehouse_id,
              "active": list(ACTIVE_RESERVATIONS), "client": counterparty_id, "lead": lead_id}
    deal = bool(deal_of and lead_id and not counterparty_id) and connection.vendor == "postgresql"
    if deal:
        params.update(known_client_params(deal_of, lead_id))
    if counterparty_id:
        client = "%(client)s"
    elif deal:
        client = "(SELECT d.client_id FROM deal d)"
    elif lead_id:
        client = f"(SELECT o.counterparty_id FROM {_t(Order)} o WHERE o.lead_id = %(lead)s)"
    else:
        client = "NULL"
    if connection.vendor != "postgresql":  # the SQLite demo: the same page from a few ORM queries
        return read_page_portable(q=q, barcode=barcode, counterparty_id=counterparty_id, lead_id=lead_id,
                                  warehouse_id=warehouse_id, offset=offset, limit=limit)
    sql = _sql(text=bool(q), barcode=bool(q) and barcode, client=client, warehouse=warehouse_id is not None,
               deal=deal)
    fetched = _execute_prepared(sql, params)
    rows = []
    for (pk, article, name, kind, tracking, vat_rate, unit_id, okei, short, _code, _currency, price, packs,
         barcodes, components, stock, reservations, *_deal) in fetched:
        row = PageRow(
            id=pk, article=article, name=name, kind=kind, tracking=tracking, vat_rate=vat_rate,
            unit=_unit(unit_id, okei, short), price=Decimal(price) if price is not None else None,
            packs=[{"id": k, "unit": _unit(u, o, sn), "factor": Decimal(f), "barcode": b}
                   for k, f, b, u, o, sn in orjson.loads(packs or "[]")],
            barcodes=orjson.loads(barcodes or "[]"),
            components=[(c, Decimal(qty)) for c, qty in orjson.loads(components or "[]")],
            stock=[],
        )
        for product_id, warehouse_id_, on_hand, reserved, expected, at, nulls in orjson.loads(stock or "[]"):
            row.stock.append(StockRow(product_id, warehouse_id_, Decimal(on_hand), Decimal(reserved),
                                      Decimal(expected), _when(at)))
            if nulls:
                row.nulls.add((product_id, warehouse_id_))
        row.reservations = [
            {"id": rid, "product_id": p, "warehouse_id": w, "batch_id": b, "quantity": Decimal(qty), "status": st,
             "confirmed_at": _when(at), "order_id": o}
            for rid, p, w, b, qty, st, at, o in orjson.loads(reservations or "[]")
        ]
        rows.append(row)
    code, currency = (fetched[0][9], fetched[0][10]) if fetched else (None, None)
    return Page(rows, code, currency, tuple(fetched[0][17:]) if deal and fetched else None)


def _execute_prepared(sql: str, params: dict) -> list[tuple]:
    """The rows of `sql` (with %(name)s placeholders), run as a statement prepared on this connection: PREPARE and
    EXECUTE in one round trip the first time, EXECUTE alone after."""
    names = list(dict.fromkeys(PLACEHOLDER.findall(sql)))
    statement = "amoerp_widget_page_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
    # The generic plan, always (for this statement only: the setting is put back in the same round trip). Left to
    # choose, PostgreSQL kept planning two of the shapes afresh every time, as their custom plans looked cheaper.
    execute = (f"SET plan_cache_mode = force_generic_plan; "
               f"EXECUTE {statement}({', '.join(f'%({name})s' for name in names)}); RESET plan_cache_mode")
    with connection.cursor() as cursor:
        kept = getattr(connection, "_widget_page_statements", None)
        if kept is None or kept[0] is not connection.connection:  # a new connection has none yet
            kept = (connection.connection, set())
            connection._widget_page_statements = kept
        if statement in kept[1]:
            cursor.execute(execute, params)
        else:
            numbered = PLACEHOLDER.sub(lambda m: f"${names.index(m.group(1)) + 1}", sql)
            types = ", ".join(PARAMETER_TYPES[name] for name in names)
            cursor.execute(f"PREPARE {statement}({types}) AS {numbered}; {execute}", params)
            cursor.nextset()
            kept[1].add(statement)
        cursor.nextset()  # past SET, to the rows of EXECUTE
        return cursor.fetchall()


def _client_price_list(counterparty_id: int | None, lead_id: int | None) -> PriceList | None:
    if not counterparty_id and lead_id:
        counterparty_id = Order.objects.filter(lead_id=lead_id).values_list("counterparty_id", flat=True).first()
    chosen = (Counterparty.objects.filter(pk=counterparty_id).values_list("segment__price_list_id", flat=True).first()
              if counterparty_id else None)
    if chosen is None:
        return PriceList.objects.filter(is_default=True).order_by("pk").first()
    return PriceList.objects.filter(pk=chosen).first()


def read_page_portable(*, q: str, barcode: bool, counterparty_id: int | None, lead_id: int | None,
                       warehouse_id: int | None, offset: int, limit: int) -> Page:
    """read_page's answer from ORM queries on any database (a handful per page instead of one)."""
    products = Product.objects.filter(active=True)
    if q:
        match = Q(name__icontains=q) | Q(article__icontains=q)
        if barcode:
            coded = set(Barcode.objects.filter(value=q, active=True).values_list("product_id", flat=True))
            coded |= set(Pack.objects.filter(barcode=q, active=True).values_list("product_id", flat=True))
            match |= Q(pk__in=coded)
        products = products.filter(match)
    found = list(products.select_related("unit").order_by("article")[offset:offset + limit])
    ids = [p.pk for p in found]
    price_list = _client_price_list(counterparty_id, lead_id)
    prices = dict(Price.objects.filter(product_id__in=ids, price_list=price_list, active=True)
                  .values_list("product_id", "amount")) if price_list else {}
    packs, barcodes, components = defaultdict(list), defaultdict(list), defaultdict(list)
    for k in Pack.objects.filter(product_id__in=ids, active=True).select_related("unit").order_by("factor", "pk"):
        packs[k.product_id].append({"id": k.pk, "unit": _unit(k.unit_id, k.unit.okei_code, k.unit.short_name),
                                    "factor": k.factor, "barcode": k.barcode})
    for product_id, value in Barcode.objects.filter(product_id__in=ids, active=True).order_by("pk").values_list(
            "product_id", "value"):
        barcodes[product_id].append(value)
    for kit_id, component_id, quantity in KitComponent.objects.filter(kit_id__in=ids, active=True).values_list(
            "kit_id", "component_id", "quantity"):
        components[kit_id].append((component_id, quantity))
    kits = {p.pk for p in found if p.kind == Product.Kind.KIT}
    everyone = set(ids) | {c for parts in components.values() for c, _q in parts}
    levels = StockLevel.objects.filter(product_id__in=everyone)
    held = Reservation.objects.filter(product_id__in=everyone, status__in=ACTIVE_RESERVATIONS)
    if warehouse_id is not None:
        levels, held = levels.filter(warehouse_id=warehouse_id), held.filter(warehouse_id=warehouse_id)
    stock: dict[int, list[StockRow]] = defaultdict(list)
    nulls: set[tuple[int, int]] = set()
    for row in levels.values("product_id", "warehouse_id").annotate(
            on_hand=Sum("on_hand"), reserved=Sum("reserved"), expected=Sum("expected"), at=Min("snapshot_at"),
            unknown=Count("pk", filter=Q(snapshot_at__isnull=True))):
        stock[row["product_id"]].append(StockRow(row["product_id"], row["warehouse_id"], row["on_hand"],
                                                 row["reserved"], row["expected"], row["at"]))
        if row["unknown"]:
            nulls.add((row["product_id"], row["warehouse_id"]))
    reservations: dict[int, list[dict]] = defaultdict(list)
    for res in held.values("id", "product_id", "warehouse_id", "batch_id", "quantity", "status", "confirmed_at",
                           "order_id"):
        reservations[res["product_id"]].append(res)
    rows = []
    for product in found:
        own = [product.pk, *(c for c, _q in components[product.pk])]
        row = PageRow(
            id=product.pk, article=product.article, name=product.name, kind=product.kind, tracking=product.tracking,
            vat_rate=product.vat_rate, unit=_unit(product.unit_id, product.unit.okei_code, product.unit.short_name),
            price=prices.get(product.pk), packs=packs[product.pk], barcodes=barcodes[product.pk],
            components=components[product.pk], stock=[item for pid in own for item in stock[pid]],
            nulls={key for key in nulls if key[0] in own},
            reservations=[res for pid in (own if product.pk in kits else [product.pk]) for res in reservations[pid]],
        )
        rows.append(row)
    return Page(rows, price_list.code if price_list and found else None,
                price_list.currency if price_list and found else None)


def merge(rows: list[PageRow]) -> tuple[dict[int, list[tuple[int, Decimal]]], list[StockRow], set, list[dict]]:
    """The page's kit components, stock rows, never-snapshot keys and reservations, each once (kits on one page
    may share components)."""
    components = {row.id: row.components for row in rows if row.components}
    stock: dict[tuple[int, int], StockRow] = {}
    nulls: set[tuple[int, int]] = set()
    held: dict[int, dict] = {}
    for row in rows:
        for item in row.stock:
            stock[(item.product_id, item.warehouse_id)] = item
        nulls |= row.nulls
        for res in row.reservations:
            held[res["id"]] = res
    return defaultdict(list, components), list(stock.values()), nulls, list(held.values())
