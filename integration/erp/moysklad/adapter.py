"""The MoySklad adapter: implements integration.erp.protocol.ErpAdapter over the JSON API 1.2.

Kits: a customer-order position may reference a bundle (reference §3.6: assortment may be a bundle), and
MoySklad holds the reserve of a bundle position on its components. We send kits as bundle positions
with `reserve` = quantity, so the document keeps the kit line and price while the components are held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from counterparties.errors import InvalidValue
from counterparties.validators import normalize_email, normalize_phone
from integration.erp.moysklad import mappers
from integration.erp.moysklad.client import MoySkladClient
from integration.erp.types import (
    ErpBatch,
    ErpCategory,
    ErpContactPerson,
    ErpCounterparty,
    ErpDocument,
    ErpOrder,
    ErpOrganization,
    ErpPayment,
    ErpPriceList,
    ErpProduct,
    ErpShipment,
    ErpStockChange,
    ErpStockRow,
    ErpUnit,
    ErpWarehouse,
    OrderPush,
    RecordPage,
)
from integration.errors import PermanentError
from integration.models import Backend
from integration.remembered import remembered

BOTH_ARCHIVED = "archived=true;archived=false"
CANCELLED_STATES = ("Отменён", "Отменен")
STOCK_FIELDS = {"stock": "on_hand", "reserve": "reserved", "inTransit": "expected"}
# `filter=assortmentId=…` goes in the URL: keep each request's list well under the 8 KB header limit.
IDS_PER_REQUEST = 100
COUNTERPARTY_PAGE_LIMIT = 100  # MoySklad ignores `expand` above 100 rows a page
WIRE_KINDS = {"goods": "product", "service": "service", "kit": "bundle"}
# What every delivery asked MoySklad again (order states, our organization: a fifth of a pilot day's requests,
# all against the account's 45 units in 3 s), remembered per process for a few minutes.
SHARED_TTL = 300.0


def mapped_page(rows: list[dict], map_row: Callable[[dict], list]) -> RecordPage:
    """Map a page row by row; a row that can't be mapped is named in the page's `rejected`, not raised."""
    page = RecordPage()
    for row in rows:
        try:
            page += map_row(row)
        except mappers.MappingError as exc:
            page.rejected.append(str(exc))
    return page


def _since_filter(since: datetime | None) -> str:
    return f"updated>={mappers.wire_moment(since)}" if since else ""


def _join(*terms: str) -> str:
    return ";".join(t for t in terms if t)


class MoySkladAdapter:
    def __init__(self, backend: Backend, client: MoySkladClient | None = None):
        self.backend = backend
        self.client = client or MoySkladClient(backend)
        self._states: list[dict] | None = None
        self._organization: str | None = None
        self._batches: dict[str, ErpBatch] | None = None  # the consignments iter_batches read last

    @property
    def root(self) -> str:
        return self.client.root

    # ------------------------------------------------------------------ master data
    def iter_units(self) -> Iterator[ErpUnit]:
        for page in self.client.iter_pages("entity/uom"):
            for row in page:
                if row.get("code"):
                    yield mappers.unit(row)

    def iter_categories(self) -> Iterator[ErpCategory]:
        for page in self.client.iter_pages("entity/productfolder", {"filter": BOTH_ARCHIVED}):
            yield from (mappers.category(row) for row in page)

    def iter_product_rows(self, *, since: datetime | None = None, on_size=None) -> Iterator[list[dict]]:
        """Raw product then service pages (the sync maps them row by row to count failures)."""
        for kind in ("product", "service"):
            yield from self.client.iter_pages(
                f"entity/{kind}", {"filter": _join(_since_filter(since), BOTH_ARCHIVED)}, on_size=on_size
            )

    def iter_product_pages(self, *, since: datetime | None = None, on_size=None) -> Iterator[list[ErpProduct]]:
        for page in self.iter_product_rows(since=since, on_size=on_size):
            yield mapped_page(page, lambda row: [mappers.product(row)])

    def iter_bundle_rows(self, *, since: datetime | None = None, on_size=None) -> Iterator[list[dict]]:
        # `expand` only works with limit ≤ 100 (reference §8).
        yield from self.client.iter_pages(
            "entity/bundle",
            {"filter": _join(_since_filter(since), BOTH_ARCHIVED), "expand": "components"},
            limit=100,
            on_size=on_size,
        )

    def iter_bundles(self, *, since: datetime | None = None, on_size=None) -> Iterator[list[ErpProduct]]:
        for page in self.iter_bundle_rows(since=since, on_size=on_size):
            yield mapped_page(page, lambda row: [mappers.product(row, kind="kit")])

    def fetch_product(self, kind: str, erp_id: str) -> ErpProduct:
        wire = WIRE_KINDS.get(kind, "product")
        return mappers.product(self.get_product(wire, erp_id), kind="kit" if wire == "bundle" else None)

    def iter_price_lists(self) -> Iterator[ErpPriceList]:
        for row in self.client.get("context/companysettings/pricetype"):
            yield mappers.price_list(row)

    def iter_warehouses(self) -> Iterator[ErpWarehouse]:
        for page in self.client.iter_pages("entity/store", {"filter": BOTH_ARCHIVED}):
            yield from (mappers.warehouse(row) for row in page)

    def iter_batches(self) -> Iterator[ErpBatch]:
        """Consignments; remembered for the stock report that follows (its batch rows name them)."""
        self._batches = {}
        for page in self.client.iter_pages("entity/consignment"):
            for row in page:
                batch = self._batches[row["id"]] = mappers.batch(row)
                yield batch

    # ------------------------------------------------------------------ stock
    def iter_stock_rows(self) -> Iterator[list[dict]]:
        """Raw `report/stock/bystore` pages with zero rows included and batches as their own rows."""
        yield from self.client.iter_pages(
            "report/stock/bystore", {"filter": "stockMode=all", "groupBy": "consignment"}
        )

    def iter_stock(self) -> Iterator[list[ErpStockRow]]:
        batches = self._batches if self._batches is not None else {b.erp_id: b for b in self.iter_batches()}
        for page in self.iter_stock_rows():
            yield mapped_page(page, lambda raw: mappers.stock_bystore_row(raw, batches))

    def _current(self, params: dict) -> list[ErpStockChange]:
        merged: dict[tuple[str, str], dict] = {}
        for stock_type, field in STOCK_FIELDS.items():
            rows = self.client.get("report/stock/bystore/current", {**params, "stockType": stock_type})
            for row in rows:
                if not row.get("storeId"):
                    continue  # reserves not bound to a store
                key = (row["assortmentId"], row["storeId"])
                merged.setdefault(key, {})[field] = mappers.quantity(row.get(stock_type))
        return [
            ErpStockChange(assortment_erp_id=a, warehouse_erp_id=s, **values)
            for (a, s), values in merged.items()
        ]

    def stock_changed_since(self, since: datetime) -> list[ErpStockChange]:
        """Current values of everything changed since `since` (MoySklad: at most 24 h back)."""
        return self._current({"changedSince": mappers.wire_moment(since)[:19]})

    def stock_for(self, assortment_erp_ids: Sequence[str]) -> list[ErpStockChange]:
        """Current stock of these products (their batches included), zero rows included."""
        out: list[ErpStockChange] = []
        ids = list(dict.fromkeys(assortment_erp_ids))
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = ids[start : start + IDS_PER_REQUEST]
            out += self._current({"include": "zeroLines", "filter": "assortmentId=" + ",".join(chunk)})
        return out

    # ------------------------------------------------------------------ counterparties
    def iter_counterparties(self, *, since: datetime | None = None) -> Iterator[list[ErpCounterparty]]:
        params = {"expand": "contactpersons"}
        if since:
            params["filter"] = f"updated>={mappers.wire_moment(since)}"
        for page in self.client.iter_pages("entity/counterparty", params, limit=COUNTERPARTY_PAGE_LIMIT):
            yield [self.counterparty_from(row) for row in page]

    def get_counterparty(self, erp_id: str) -> ErpCounterparty:
        return self.counterparty_from(self.client.get(f"entity/counterparty/{erp_id}", {"expand": "contactpersons"}))

    def counterparty_from(self, row: dict) -> ErpCounterparty:
        """A counterparty row (with `contactpersons` expanded, or read separately) → ErpCounterparty."""
        block = row.get("contactpersons") or {}
        contacts = block.get("rows")
        if contacts is None and (block.get("meta") or {}).get("size"):
            contacts = [
                c for page in self.client.iter_pages(f"entity/counterparty/{row['id']}/contactpersons") for c in page
            ]
        return replace(
            mappers.counterparty(row),
            contacts=tuple(
                ErpContactPerson(c.get("id") or "", c.get("name") or "", c.get("phone") or "", c.get("email") or "")
                for c in contacts or ()
            ),
            price_list_erp_id=mappers.ref_id(row.get("priceType")),
            archived=bool(row.get("archived")),
        )

    def find_counterparty(self, data: ErpCounterparty) -> ErpCounterparty | None:
        """ИНН+КПП for organisations (ИНН alone for an ИП); phone or e-mail for individuals."""
        if data.inn:
            terms = f"inn={data.inn}" + (f";kpp={data.kpp}" if data.kpp else "")
            for page in self.client.iter_pages("entity/counterparty", {"filter": terms}):
                for row in page:
                    if data.kpp or not row.get("kpp") or data.kind == "entrepreneur":
                        return mappers.counterparty(row)
            return None
        phone = _normal(normalize_phone, data.phone)
        email = _normal(normalize_email, data.email)
        if email:
            for page in self.client.iter_pages("entity/counterparty", {"filter": f"email={email}"}):
                if page:
                    return mappers.counterparty(page[0])
        if phone:
            # MoySklad stores phones as typed: search by the last digits, compare normalised.
            for page in self.client.iter_pages("entity/counterparty", {"search": phone[-4:]}):
                for row in page:
                    if _normal(normalize_phone, row.get("phone")) == phone:
                        return mappers.counterparty(row)
            for page in self.client.iter_pages("entity/counterparty", {"filter": "companyType=individual"}):
                for row in page:
                    if _normal(normalize_phone, row.get("phone")) == phone:
                        return mappers.counterparty(row)
        return None

    def create_counterparty(self, data: ErpCounterparty) -> ErpCounterparty:
        return mappers.counterparty(self.client.post("entity/counterparty", mappers.counterparty_body(data)))

    def ensure_counterparty(self, data: ErpCounterparty) -> ErpCounterparty:
        """The matching counterparty, created only when there is none."""
        return self.find_counterparty(data) or self.create_counterparty(data)

    # ------------------------------------------------------------------ orders
    def _remembered(self, what: str, read: Callable[[], object], *, again: bool = False):
        return remembered((self.backend.pk, self.root, what), read, ttl=SHARED_TTL, again=again)

    def states(self, *, again: bool = False) -> list[dict]:
        if self._states is None or again:
            self._states = self._remembered(
                "states", lambda: self.client.get("entity/customerorder/metadata").get("states") or [], again=again)
        return self._states

    def state_by_id(self, state_id: str | None) -> dict | None:
        found = next((s for s in self.states() if s["id"] == state_id), None)
        if found is None and state_id:  # a state added since it was read
            found = next((s for s in self.states(again=True) if s["id"] == state_id), None)
        return found

    def organization_id(self) -> str:
        if self._organization is None:
            self._organization = (self.backend.settings or {}).get("organization_id") or self._remembered(
                "organization", self._first_organization)
        return self._organization

    def _first_organization(self) -> str:
        rows = self.client.get("entity/organization", {"limit": 1}).get("rows") or []
        if not rows:
            raise PermanentError("MoySklad has no organization (own legal entity) to sell from")
        return rows[0]["id"]

    def fetch_organization(self) -> ErpOrganization:
        """The organization `organization_id` picks and its accounts; PermanentError when there is none."""
        erp_id = self.organization_id()
        row = self.client.get(f"entity/organization/{erp_id}")
        accounts = [a for page in self.client.iter_pages(f"entity/organization/{erp_id}/accounts") for a in page]
        return mappers.organization(row, accounts)

    def find_order(self, key: str) -> dict | None:
        rows = self.client.get("entity/customerorder", {"filter": f"externalCode={key}"}).get("rows") or []
        return rows[0] if rows else None

    def find_order_id(self, key: str) -> str | None:
        row = self.find_order(key)
        return row["id"] if row else None

    def _order_body(self, push: OrderPush) -> dict:
        body: dict = {
            "agent": mappers.meta_ref(self.root, "counterparty", push.counterparty_erp_id),
            "organization": mappers.meta_ref(self.root, "organization", self.organization_id()),
            "vatEnabled": True,
            "vatIncluded": push.vat_included,
            "positions": [mappers.position_body(self.root, line) for line in push.lines],
            "description": push.comment,
            "shipmentAddress": push.delivery_address,
        }
        if push.warehouse_erp_id:
            body["store"] = mappers.meta_ref(self.root, "store", push.warehouse_erp_id)
        return body

    def upsert_order(self, push: OrderPush) -> ErpOrder:
        body = self._order_body(push)
        erp_id = push.erp_id
        if not erp_id:
            existing = self.find_order(push.key)  # a lost response of an earlier attempt left it there
            erp_id = existing["id"] if existing else None
        if erp_id:
            row = self.client.put(f"entity/customerorder/{erp_id}", body)
        else:
            body.update({"externalCode": push.key, "syncId": push.key, "applicable": True})
            # syncId makes MoySklad answer a repeated create with the first order: safe to retry.
            row = self.client.post("entity/customerorder", body, retry=True)
        return self.get_order(row["id"])

    def cancel_order(self, erp_id: str) -> ErpOrder:
        states = self.states(again=True)  # rare, and a state deleted since would be refused: read them now
        state = next((s for s in states if s["name"] in CANCELLED_STATES), None) or next(
            (s for s in states if s.get("stateType") == "Unsuccessful"), None
        )
        if state is None:
            raise PermanentError("MoySklad has no cancelled (Unsuccessful) order state")
        positions = [
            {
                "id": p["id"],
                "assortment": p["assortment"],
                "quantity": p["quantity"],
                "price": p["price"],
                "discount": p.get("discount", 0),
                "vat": p.get("vat", 0),
                "vatEnabled": p.get("vatEnabled", False),
                "reserve": 0,
            }
            for page in self.client.iter_pages(f"entity/customerorder/{erp_id}/positions")
            for p in page
        ]
        self.client.put(
            f"entity/customerorder/{erp_id}", {"state": {"meta": state["meta"]}, "positions": positions}
        )
        return self.get_order(erp_id)

    def get_order(self, erp_id: str) -> ErpOrder:
        row = self.client.get(f"entity/customerorder/{erp_id}")
        return self._order_from(row)

    def _order_from(self, row: dict) -> ErpOrder:
        positions = [
            p for page in self.client.iter_pages(f"entity/customerorder/{row['id']}/positions") for p in page
        ]
        return mappers.order(row, positions, self.state_by_id(mappers.ref_id(row.get("state"))))

    def iter_orders(self, *, since: datetime | None = None) -> Iterator[list[ErpOrder]]:
        params = {"filter": _since_filter(since)} if since else {}
        for page in self.client.iter_pages("entity/customerorder", params):
            yield [self._order_from(row) for row in page]

    # ------------------------------------------------------------------ documents
    def create_invoice(self, order_erp_id: str, key: str = "") -> ErpDocument:
        """The order's invoice made from MoySklad's template. `key` (a UUID of ours for the document) goes as its
        syncId: a create repeated after a lost answer returns the first invoice instead of making a second."""
        template = self.client.put(
            "entity/invoiceout/new",
            {"customerOrder": mappers.meta_ref(self.root, "customerorder", order_erp_id)},
        )
        positions = template.get("positions") or []
        if isinstance(positions, dict):
            positions = positions.get("rows") or []
        template["positions"] = positions
        template.pop("sum", None)
        if key:
            template.update({"syncId": key, "externalCode": key})
        return self._with_rows("invoiceout", self.client.post("entity/invoiceout", template, retry=bool(key)),
                               "invoice")

    def get_document(self, wire: str, erp_id: str, kind: str) -> ErpDocument:
        return self._with_rows(wire, self.client.get(f"entity/{wire}/{erp_id}"), kind)

    def _with_rows(self, wire: str, row: dict, kind: str) -> ErpDocument:
        """A document with its rows, read apart (a document's `positions` is a MetaArray with its size only)."""
        positions = [p for page in self.client.iter_pages(f"entity/{wire}/{row['id']}/positions") for p in page]
        return mappers.document(row, kind, positions)

    def fetch_document_pdf(self, kind: str, erp_id: str) -> bytes:
        """Print the ERP's own form: export → 303 to a short-lived link → download it right away."""
        wire = {"invoice": "invoiceout", "upd": "demand", "torg12": "demand"}.get(kind, kind)
        templates = self.client.get(f"entity/{wire}/metadata/embeddedtemplate").get("rows") or []
        if not templates:
            raise PermanentError(f"MoySklad has no print template for {wire}")
        response = self.client.request(
            "POST",
            f"entity/{wire}/{erp_id}/export/",
            json={"template": {"meta": templates[0]["meta"]}, "extension": "pdf"},
            allow_redirects=False,
        )
        location = response.headers.get("Location")
        if response.status_code != 303 or not location:
            raise PermanentError(
                f"MoySklad export of {wire} {erp_id} answered {response.status_code} without a link"
            )
        download = self.client.session.get(location, headers={"Authorization": None})
        if download.status_code != 200 or not download.content.startswith(b"%PDF"):
            raise PermanentError(f"MoySklad print form link answered {download.status_code} (expired?)")
        return download.content

    def iter_shipments(self, *, since: datetime | None = None) -> Iterator[ErpShipment]:
        params = {"filter": _since_filter(since)} if since else {}
        for page in self.client.iter_pages("entity/demand", params):
            for row in page:
                positions = [
                    p for pg in self.client.iter_pages(f"entity/demand/{row['id']}/positions") for p in pg
                ]
                yield mappers.shipment(row, positions)

    def iter_payments(self, *, since: datetime | None = None) -> Iterator[ErpPayment]:
        params = {"filter": _since_filter(since)} if since else {}
        for page in self.client.iter_pages("entity/paymentin", params):
            yield from (mappers.payment(row) for row in page)

    def get_shipment(self, erp_id: str) -> ErpShipment:
        row = self.client.get(f"entity/demand/{erp_id}")
        positions = [p for pg in self.client.iter_pages(f"entity/demand/{erp_id}/positions") for p in pg]
        return mappers.shipment(row, positions)

    def get_payment(self, erp_id: str) -> ErpPayment:
        return mappers.payment(self.client.get(f"entity/paymentin/{erp_id}"))

    def get_product(self, kind: str, erp_id: str) -> dict:
        params = {"expand": "components"} if kind == "bundle" else None
        return self.client.get(f"entity/{kind}/{erp_id}", params)


# ------------------------------------------------------------------ webhook subscriptions
WEBHOOK_KINDS = ("webhook", "webhookstock")  # entity/webhook (entity events), entity/webhookstock (stock)


def list_webhooks(adapter: MoySkladAdapter, kind: str) -> list[dict]:
    """Every subscription of `kind` the account holds (ours and others')."""
    return [row for page in adapter.client.iter_pages(f"entity/{kind}") for row in page]


def create_webhook(adapter: MoySkladAdapter, kind: str, body: dict) -> dict:
    return adapter.client.post(f"entity/{kind}", body)


def update_webhook(adapter: MoySkladAdapter, kind: str, erp_id: str, body: dict) -> dict:
    return adapter.client.put(f"entity/{kind}/{erp_id}", body)


def delete_webhook(adapter: MoySkladAdapter, kind: str, erp_id: str) -> None:
    try:
        adapter.client.request("DELETE", f"entity/{kind}/{erp_id}", retry=True)
    except PermanentError as exc:
        if exc.status != 404:  # already gone (a retry after a lost response): done
            raise


def _normal(fn, value: str | None) -> str:
    try:
        return fn(value) if value else ""
    except InvalidValue:
        return ""
