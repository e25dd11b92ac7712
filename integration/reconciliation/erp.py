"""ERP (MoySklad) ↔ platform: stock, prices, product and counterparty bindings, orders with lines and reserves,
payments, shipments and returns, invoices and their totals.

Everything is paged: one ERP page at a time (`iter_pages`, stock through `report/stock/bystore` as the stock
sync reads it) is compared with the rows of that page read from the database in one query, so 100k products
never sit in memory; only the ERP ids seen are kept (to find what the ERP no longer has). The ERP wins for
master data and order composition: a repair re-reads the record from the ERP and applies it through the
functions the syncs and webhooks use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Batch, Price, PriceList, Product, StockLevel, Warehouse
from counterparties.models import Counterparty
from documents.models import Document, Payment
from integration.erp.importers import orders as order_sync
from integration.erp.importers.stock import StockWriter
from integration.erp.moysklad import catalog_sync, mappers
from integration.erp.moysklad.adapter import BOTH_ARCHIVED, MoySkladAdapter
from integration.erp.moysklad.erp_changes import apply_return
from integration.models import Backend, OutboxEvent, SyncRun
from integration.overrides import load_pins
from orders.models import Order, Reservation, Shipment
from orders.reservations import held_per_line

from .repair import CHUNK, Context, atomic, num
from .report import ReconcileReport

PRODUCT_KINDS = ("product", "service", "bundle")
ZERO = Decimal("0")
CENT = Decimal("0.01")


def compare_erp(backend: Backend, *, repair: bool = False, progress=None) -> ReconcileReport:
    ctx = Context(backend, ReconcileReport(), repair, progress)
    adapter = MoySkladAdapter(backend)
    ErpComparison(ctx, adapter).run()
    return ctx.report


def pages(adapter: MoySkladAdapter, path: str, params: dict | None = None) -> Iterator[list[dict]]:
    yield from adapter.client.iter_pages(path, params or {})


class ErpComparison:
    def __init__(self, ctx: Context, adapter: MoySkladAdapter):
        self.ctx, self.adapter, self.backend = ctx, adapter, ctx.backend

    def run(self) -> None:
        self.products()
        self.stock()
        self.counterparties()
        self.orders()
        self.payments()
        self.shipments()
        self.invoices()

    # ------------------------------------------------------------------ products: binding and prices
    def products(self) -> None:
        price_lists = dict(PriceList.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
        list_names = dict(PriceList.objects.values_list("pk", "name"))
        seen: set[str] = set()
        for kind in PRODUCT_KINDS:
            for page in pages(self.adapter, f"entity/{kind}", {"filter": BOTH_ARCHIVED}):
                seen.update(row["id"] for row in page)
                self.product_page(kind, page, price_lists, list_names)
        self.products_gone(seen)

    def product_page(self, kind: str, page: list[dict], price_lists: dict, list_names: dict) -> None:
        local = {
            row[1]: row
            for row in Product.objects.filter(erp_id__in=[r["id"] for r in page]).values_list(
                "pk", "erp_id", "article", "name", "active"
            )
        }
        held: dict[tuple[int, int], tuple[int, Decimal]] = {
            (p, pl): (price_pk, amount)
            for price_pk, p, pl, amount in Price.objects.filter(
                product_id__in=[row[0] for row in local.values()], active=True
            ).values_list("pk", "product_id", "price_list_id", "amount")
        }
        # Values staff pinned (overrides) are kept by the syncs on purpose: the ERP's value is compared as
        # the sync would write it, so a pin is not a drift (its disagreement is a conflict already).
        product_pins = load_pins(Product, [row[0] for row in local.values()])
        price_pins = load_pins(Price, [price_pk for price_pk, _amount in held.values()])
        for row in page:
            self.ctx.report.count("binding")
            erp_id, name = row["id"], (row.get("name") or "").strip()
            article = ((row.get("article") or row.get("code") or "").strip() or erp_id)[:64]

            def fix(kind=kind, erp_id=erp_id):
                catalog_sync.upsert_product(self.backend, kind, erp_id)

            mine = local.get(erp_id)
            if mine is None:
                if not row.get("archived"):
                    self.ctx.drift(
                        "binding", f"product {article}", erp=name, platform="—",
                        cause=_("created in the ERP; its webhook was lost and no catalog sync ran since"), fix=fix,
                    )
                continue
            pk, _erp, my_article, my_name, active = mine
            wanted = product_pins.apply(pk, {"article": article, "name": name[:500]})
            article, name = wanted["article"], wanted["name"]
            product = Product(pk=pk, article=my_article, name=my_name)
            archived = " " + _("(archived)")
            erp_view = f"{article} «{name[:500]}»{archived if row.get('archived') else ''}"
            my_view = f"{my_article} «{my_name}»{'' if active else archived}"
            if (article, name[:500], bool(row.get("archived"))) != (my_article, my_name, not active):
                self.ctx.drift(
                    "binding", f"product {my_article}", obj=product, erp=erp_view, platform=my_view,
                    cause=_("changed in the ERP (renamed, archived) and the change did not reach us"), fix=fix,
                )
                continue
            for price in row.get("salePrices") or []:
                price_list = price_lists.get(mappers.ref_id(price.get("priceType")) or "")
                if price_list is None:
                    continue
                self.ctx.report.count("price")
                price_pk, mine_amount = held.get((pk, price_list), (None, None))
                erp_amount = price_pins.apply(price_pk, {"amount": mappers.roubles(price.get("value"))})["amount"]
                if mine_amount != erp_amount:
                    self.ctx.drift(
                        "price", f"{my_article} / {list_names.get(price_list, price_list)}", obj=product,
                        erp=num(erp_amount), platform=num(mine_amount),
                        cause=_("the price changed in the ERP after the last price sync"), fix=fix,
                    )
                    break
        self.ctx.tick("price")

    def products_gone(self, seen: set[str]) -> None:
        rows = Product.objects.filter(erp_id__isnull=False, active=True).values_list("pk", "erp_id", "article", "name")
        for pk, erp_id, article, name in rows.iterator(chunk_size=CHUNK):
            if erp_id not in seen:
                self.ctx.drift(
                    "binding", f"product {article}", obj=Product(pk=pk, article=article, name=name),
                    erp="—", platform=f"{article} «{name}»",
                    cause=_("deleted in the ERP (or its id changed); staff decide whether to archive it"),
                    conflict_field="erp_id",
                )

    # ------------------------------------------------------------------ stock
    def stock(self) -> None:
        batches = {b.erp_id: b for b in self.adapter.iter_batches()}
        warehouses = dict(Warehouse.objects.filter(erp_id__isnull=False).values_list("erp_id", "pk"))
        names = dict(Warehouse.objects.values_list("pk", "name"))
        for page in self.adapter.iter_stock_rows():
            rows = []
            for raw in page:
                try:
                    rows += mappers.stock_bystore_row(raw, batches)
                except mappers.MappingError:
                    continue  # a consignment created since we listed them: the next run sees it
            self.stock_page(rows, warehouses, names)
            self.ctx.tick("stock")

    def stock_page(self, rows: list, warehouses: dict, names: dict) -> None:
        products = dict(
            Product.objects.filter(erp_id__in={r.product_erp_id for r in rows}).values_list("erp_id", "pk")
        )
        articles = dict(Product.objects.filter(pk__in=products.values()).values_list("pk", "article"))
        batch_pks = dict(
            Batch.objects.filter(erp_id__in={r.batch_erp_id for r in rows if r.batch_erp_id}).values_list(
                "erp_id", "pk"
            )
        )
        held, snapshots, row_pks = {}, {}, {}
        for pk, p, w, b, on_hand, reserved, expected, at in StockLevel.objects.filter(
            product_id__in=products.values()
        ).values_list("pk", "product_id", "warehouse_id", "batch_id", "on_hand", "reserved", "expected", "snapshot_at"):
            held[(p, w, b)] = (on_hand, reserved, expected)
            snapshots[(p, w, b)] = at
            row_pks[(p, w, b)] = pk
        pins = load_pins(StockLevel, list(row_pks.values()))
        # Our reserves the ERP has (or is about to have) but our snapshot does not contain yet, as the stock
        # guard counts them (orders.reservations): pending, or confirmed after the row's snapshot.
        ours: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
        for p, w, b, status, confirmed_at, quantity in Reservation.objects.filter(
            product_id__in=products.values()
        ).exclude(status=Reservation.Status.RELEASED).values_list(
            "product_id", "warehouse_id", "batch_id", "status", "confirmed_at", "quantity"
        ):
            at = snapshots.get((p, w, b))
            if status == Reservation.Status.PENDING or at is None or confirmed_at is None or confirmed_at >= at:
                ours[(p, w, b)] += quantity
        drifted = []
        for row in rows:
            product, warehouse = products.get(row.product_erp_id), warehouses.get(row.warehouse_erp_id)
            batch = batch_pks.get(row.batch_erp_id) if row.batch_erp_id else None
            if product is None or warehouse is None or (row.batch_erp_id and batch is None):
                continue  # not mirrored: the product binding comparison reports it
            self.ctx.report.count("stock")
            figures = pins.apply(
                row_pks.get((product, warehouse, batch)),
                {"on_hand": row.on_hand, "reserved": row.reserved, "expected": row.expected},
            )
            erp = (figures["on_hand"], figures["reserved"], figures["expected"])
            mine = held.get((product, warehouse, batch), (ZERO, ZERO, ZERO))
            extra = ours.get((product, warehouse, batch), ZERO)
            if erp != mine and erp != (mine[0], mine[1] + extra, mine[2]):
                drifted.append((row, product, warehouse, erp, mine))
        if not drifted:
            return
        writer = None

        def fix(row):
            nonlocal writer
            if writer is None:
                writer = StockWriter(self.backend, SyncRun(backend=self.backend, kind="stock"), dry_run=False)
                writer.batches = {
                    erp_id: (pk, product)
                    for erp_id, pk, product in Batch.objects.filter(erp_id__isnull=False).values_list(
                        "erp_id", "pk", "product_id"
                    )
                }
            writer.write_rows([row], snapshot_at=timezone.now())

        for row, product, warehouse, erp, mine in drifted:
            self.ctx.drift(
                "stock", f"{articles.get(product, product)} @ {names.get(warehouse, warehouse)}"
                + (f" / {row.batch_erp_id}" if row.batch_erp_id else ""),
                obj=Product(pk=product, article=articles.get(product, "")),
                erp=_stock_view(erp), platform=_stock_view(mine),
                cause=_("stock moved in the ERP and the stock webhook or refresh did not bring it"),
                fix=lambda row=row: fix(row),
            )

    # ------------------------------------------------------------------ counterparties
    def counterparties(self) -> None:
        seen: set[str] = set()
        for page in pages(self.adapter, "entity/counterparty", {"filter": BOTH_ARCHIVED}):
            seen.update(row["id"] for row in page)
            local = {
                c.erp_id: c
                for c in Counterparty.objects.filter(erp_id__in=[r["id"] for r in page], merged_into__isnull=True)
            }
            for row in page:
                mine = local.get(row["id"])
                if mine is None:
                    continue  # the ERP's counterparties we never needed are not mirrored until an order names them
                self.ctx.report.count("binding")
                erp = (row.get("inn") or "", (row.get("kpp") or ""))
                if erp != (mine.inn, mine.kpp):
                    self.ctx.drift(
                        "binding", f"counterparty {mine.pk} {mine.name}", obj=mine,
                        erp=f"ИНН {erp[0]} КПП {erp[1]}", platform=f"ИНН {mine.inn} КПП {mine.kpp}",
                        cause=_("requisites edited on one side only (wrong or duplicate requisites)"),
                        conflict_field="inn",
                    )
        gone = Counterparty.objects.filter(erp_id__isnull=False, merged_into__isnull=True)
        for mine in gone.only("pk", "name", "erp_id").iterator(chunk_size=CHUNK):
            if mine.erp_id not in seen:
                self.ctx.report.count("binding")
                self.ctx.drift(
                    "binding", f"counterparty {mine.pk} {mine.name}", obj=mine, erp="—", platform=mine.erp_id,
                    cause=_("deleted in the ERP (or merged there)"), conflict_field="erp_id",
                )

    # ------------------------------------------------------------------ orders: lines and reserves
    def orders(self) -> None:
        seen: set[str] = set()
        for page in pages(self.adapter, "entity/customerorder"):
            seen.update(row["id"] for row in page)
            local = {o.erp_id: o for o in Order.objects.filter(erp_id__in=[r["id"] for r in page])}
            in_flight = _orders_in_flight([o.pk for o in local.values()])
            for row in page:
                order = local.get(row["id"])
                if order is None:
                    continue  # created in the ERP alone: not ours to mirror
                self.ctx.report.count("order")
                if order.pk in in_flight:
                    continue  # our own change is on its way to the ERP
                positions = [p for pg in pages(self.adapter, f"entity/customerorder/{row['id']}/positions") for p in pg]
                state = self.adapter.state_by_id(mappers.ref_id(row.get("state")))
                self.order(order, mappers.order(row, positions, state))
            self.ctx.tick("order")
        for order in Order.objects.filter(erp_id__isnull=False).exclude(status=Order.Status.CANCELLED).iterator(
            chunk_size=CHUNK
        ):
            if order.erp_id not in seen:
                self.ctx.drift(
                    "order", f"order {order.pk}", obj=order, erp="—", platform=order.erp_number or order.erp_id,
                    cause=_("deleted in the ERP"), conflict_field="erp_id",
                )

    def order(self, order: Order, erp) -> None:
        erp_lines: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
        survivors = dict(Product.objects.filter(  # a merged duplicate's ERP record stands for its survivor
            erp_id__in={line.product_erp_id for line in erp.lines}, merged_into__isnull=False,
        ).values_list("erp_id", "merged_into__erp_id"))
        for line in erp.lines:
            figures = erp_lines[survivors.get(line.product_erp_id) or line.product_erp_id]
            figures[0] += line.quantity
            figures[1] = line.price
            figures[2] += max(ZERO, line.reserved - line.shipped)  # our reserve of a line is released as it ships
        # Ours as `build_push` sends it: quantities in base units, the price per base unit, and what each line's
        # active reservations hold (a kit's, of its components, counted in kits).
        lines = list(order.lines.select_related("product", "pack"))
        held = held_per_line(lines)
        mine: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
        articles: dict[str, str] = {}
        for line in lines:
            if (line.product.erp_id or "") not in erp_lines and line.shipped_quantity > 0:
                continue  # a replacement shipped beyond the ERP's order (orders.replacements): kept on purpose
            figures = mine[line.product.erp_id or ""]
            figures[0] += line.base_quantity
            figures[1] = line.base_price
            figures[2] += held.get(line.pk, ZERO)
            articles[line.product.erp_id or ""] = line.product.article
        differing = sorted(k for k in set(erp_lines) | set(mine) if erp_lines.get(k) != mine.get(k))
        if not differing:
            return
        known = dict(Product.objects.filter(erp_id__in=differing).values_list("erp_id", "article"))
        self.ctx.drift(
            "order", f"order {order.pk} ({order.erp_number})", obj=order,
            erp="; ".join(f"{articles.get(k) or known.get(k, k)}: {_line_view(erp_lines.get(k))}" for k in differing),
            platform="; ".join(f"{articles.get(k) or known.get(k, k)}: {_line_view(mine.get(k))}" for k in differing),
            cause=_("the order was edited in the ERP and its webhook was lost"),
            fix=lambda: order_sync.apply_order(self.backend, self.adapter.get_order(order.erp_id)),
        )

    # ------------------------------------------------------------------ payments
    def payments(self) -> None:
        seen: set[str] = set()
        for page in pages(self.adapter, "entity/paymentin"):
            payments = [mappers.payment(row) for row in page]
            seen.update(p.erp_id for p in payments)
            orders = dict(
                Order.objects.filter(erp_id__in={p.order_erp_id for p in payments if p.order_erp_id}).values_list(
                    "erp_id", "pk"
                )
            )
            held = {p.erp_id: p for p in Payment.objects.filter(erp_id__in=[p.erp_id for p in payments])}
            for erp in payments:
                if erp.order_erp_id not in orders:
                    continue
                self.ctx.report.count("payment")
                mine = held.get(erp.erp_id)
                if mine is not None and mine.amount == erp.amount:
                    continue
                self.ctx.drift(
                    "payment", f"payment {erp.number or erp.erp_id} (order {orders[erp.order_erp_id]})",
                    obj=mine or Order(pk=orders[erp.order_erp_id]),
                    erp=num(erp.amount), platform=num(mine.amount) if mine else "—",
                    cause=_("registered or edited in the ERP and its webhook was lost"),
                    fix=lambda erp=erp: order_sync.apply_payment(self.adapter.get_payment(erp.erp_id)),
                )
        for mine in Payment.objects.filter(erp_id__isnull=False).iterator(chunk_size=CHUNK):
            if mine.erp_id not in seen:
                self.ctx.drift(
                    "payment", f"payment {mine.number or mine.erp_id}", obj=mine, erp="—", platform=num(mine.amount),
                    cause=_("deleted in the ERP"), conflict_field="amount",
                )

    # ------------------------------------------------------------------ shipments and returns
    def shipments(self) -> None:
        for entity, order_of in (("demand", self._demand_order), ("salesreturn", self._return_order)):
            for page in pages(self.adapter, f"entity/{entity}"):
                held = set(Shipment.objects.filter(erp_id__in=[r["id"] for r in page]).values_list("erp_id", flat=True))
                for row in page:
                    if row["id"] in held:
                        self.ctx.report.count("shipment")
                        continue
                    order = order_of(row)
                    if order is None:
                        continue
                    self.ctx.report.count("shipment")
                    fix = (
                        (lambda row=row: order_sync.apply_shipment(self.adapter.get_shipment(row["id"])))
                        if entity == "demand"
                        else (lambda row=row: apply_return(self.adapter, row))
                    )
                    self.ctx.drift(
                        "shipment", f"{entity} {row.get('name') or row['id']} (order {order.pk})", obj=order,
                        erp=f"{row.get('name') or row['id']}: {num(mappers.roubles(row.get('sum')))}", platform="—",
                        cause=_("shipped or returned in the ERP and its webhook was lost"), fix=atomic(fix),
                    )

    def _demand_order(self, row: dict) -> Order | None:
        return order_sync.local_order(mappers.ref_id(row.get("customerOrder")))

    def _return_order(self, row: dict) -> Order | None:
        demand = mappers.ref_id(row.get("demand"))
        shipment = Shipment.objects.filter(erp_id=demand).select_related("order").first() if demand else None
        return shipment.order if shipment else None

    # ------------------------------------------------------------------ invoices and their totals
    def invoices(self) -> None:
        for page in pages(self.adapter, "entity/invoiceout"):
            held = {d.erp_id: d for d in Document.objects.filter(erp_id__in=[r["id"] for r in page])}
            for row in page:
                document = held.get(row["id"])
                if document is None:
                    continue
                self.ctx.report.count("document")
                erp = mappers.document(row, "invoice")
                if (document.number, document.erp_total) != (erp.number, erp.total):
                    self.ctx.drift(
                        "document", f"invoice {document.number or document.pk}", obj=document,
                        erp=f"{erp.number}: {num(erp.total)}", platform=f"{document.number}: {num(document.erp_total)}",
                        cause=_("the invoice was edited in the ERP and its webhook was lost"),
                        fix=lambda document=document, erp=erp: self._take_invoice(document, erp),
                    )
                elif document.total != erp.total:
                    self.ctx.drift(
                        "document", f"invoice {document.number} total", obj=document,
                        erp=num(erp.total), platform=num(document.total),
                        cause=_("our total of the order differs from the ERP's (a price or line changed)"),
                        conflict_field="total",
                    )

    def _take_invoice(self, document: Document, erp) -> None:
        from documents.actions import attach_erp_document

        attach_erp_document(
            document, number=erp.number, issued_on=erp.issued_on, total=erp.total, vat_total=erp.vat_total,
            pdf=self.adapter.fetch_document_pdf("invoiceout", erp.erp_id), erp_id=erp.erp_id,
        )


def _orders_in_flight(order_ids: list[int]) -> set[int]:
    """Orders with an ERP event not delivered yet: the ERP is about to change, not out of step."""
    return {
        int(pk)
        for pk in OutboxEvent.objects.filter(
            aggregate_id__in=[str(pk) for pk in order_ids],
            topic__startswith="erp.order.",
            status__in=(OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT),
        ).values_list("aggregate_id", flat=True)
    }


def _line_view(figures) -> str:
    if not figures:
        return "—"
    return _("%(quantity)s × %(price)s, reserved %(reserved)s") % {
        "quantity": num(figures[0]), "price": num(figures[1]), "reserved": num(figures[2])}


def _stock_view(figures) -> str:
    on_hand, reserved, expected = figures
    return _("on hand %(on_hand)s, reserved %(reserved)s, expected %(expected)s") % {
        "on_hand": num(on_hand), "reserved": num(reserved), "expected": num(expected)}
