"""The widget search's one query: a page of active products matching the text (or an exact barcode), each with
its unit, its price in the client's price list, and — as JSON arrays — its active packs, active barcodes,
active kit components, its stock rows and its components' summed per warehouse, and the active reservations
held against it (a kit: against its components). Barcode matches come from an ARRAY(...) InitPlan, so the OR
with the trigram-indexed ILIKEs stays a BitmapOr of index scans."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection

from catalog.availability import StockRow
from catalog.models import Barcode, KitComponent, Pack, Price, PriceList, Product, Segment, StockLevel, Unit
from counterparties.models import Counterparty
from orders.models import Order, Reservation

ACTIVE_RESERVATIONS = (Reservation.Status.PENDING.value, Reservation.Status.CONFIRMED.value)


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


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _like(q: str) -> str:
    return "%" + connection.ops.prep_for_like_query(q) + "%"


def _sql(*, text: bool, barcode: bool, client: str, warehouse: bool) -> str:
    match = []
    if text:
        match += ["UPPER(p.name::text) LIKE UPPER(%(like)s)", "UPPER(p.article::text) LIKE UPPER(%(like)s)"]
    if barcode:
        match.append(
            f"p.id = ANY(ARRAY(SELECT b.product_id FROM {_t(Barcode)} b WHERE b.value = %(q)s AND b.active "
            f"UNION SELECT k.product_id FROM {_t(Pack)} k WHERE k.barcode = %(q)s AND k.active))"
        )
    where = f"p.active AND ({' OR '.join(match)})" if match else "p.active"
    in_warehouse = "AND s.warehouse_id = %(warehouse)s" if warehouse else ""
    held_in_warehouse = "AND r.warehouse_id = %(warehouse)s" if warehouse else ""
    return f"""
WITH page AS (
    SELECT p.id, p.article, p.name, p.kind, p.tracking, p.vat_rate, p.unit_id FROM {_t(Product)} p
    WHERE {where} ORDER BY p.article LIMIT %(limit)s OFFSET %(offset)s
), pl AS (
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
     WHERE r.status = ANY(%(active)s) {held_in_warehouse})::text
FROM page pg JOIN {_t(Unit)} u ON u.id = pg.unit_id
ORDER BY pg.article
"""


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _unit(pk, okei_code, short_name) -> dict:
    return {"id": pk, "okei_code": okei_code, "short_name": short_name}


def read_page(*, q: str, barcode: bool, counterparty_id: int | None, lead_id: int | None,
              warehouse_id: int | None, offset: int, limit: int) -> Page:
    """`limit` products from `offset` (by article) with everything the answer needs, in one query. `q` "" matches
    every active product; `barcode`: q may also be an exact barcode of a product or a pack."""
    params = {"q": q, "like": _like(q), "limit": limit, "offset": offset, "warehouse": warehouse_id,
              "active": list(ACTIVE_RESERVATIONS), "client": counterparty_id, "lead": lead_id}
    if counterparty_id:
        client = "%(client)s"
    elif lead_id:
        client = f"(SELECT o.counterparty_id FROM {_t(Order)} o WHERE o.lead_id = %(lead)s)"
    else:
        client = "NULL"
    sql = _sql(text=bool(q), barcode=bool(q) and barcode, client=client, warehouse=warehouse_id is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows = []
    for (pk, article, name, kind, tracking, vat_rate, unit_id, okei, short, _code, _currency, price, packs,
         barcodes, components, stock, reservations) in fetched:
        row = PageRow(
            id=pk, article=article, name=name, kind=kind, tracking=tracking, vat_rate=vat_rate,
            unit=_unit(unit_id, okei, short), price=Decimal(price) if price is not None else None,
            packs=[{"id": k, "unit": _unit(u, o, sn), "factor": Decimal(f), "barcode": b}
                   for k, f, b, u, o, sn in json.loads(packs or "[]")],
            barcodes=json.loads(barcodes or "[]"),
            components=[(c, Decimal(qty)) for c, qty in json.loads(components or "[]")],
            stock=[],
        )
        for product_id, warehouse_id_, on_hand, reserved, expected, at, nulls in json.loads(stock or "[]"):
            row.stock.append(StockRow(product_id, warehouse_id_, Decimal(on_hand), Decimal(reserved),
                                      Decimal(expected), _when(at)))
            if nulls:
                row.nulls.add((product_id, warehouse_id_))
        row.reservations = [
            {"id": rid, "product_id": p, "warehouse_id": w, "batch_id": b, "quantity": Decimal(qty), "status": st,
             "confirmed_at": _when(at), "order_id": o}
            for rid, p, w, b, qty, st, at, o in json.loads(reservations or "[]")
        ]
        rows.append(row)
    code, currency = (fetched[0][9], fetched[0][10]) if fetched else (None, None)
    return Page(rows, code, currency)


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
