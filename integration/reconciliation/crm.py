"""Platform ↔ amoCRM: each order's deal (stage, products, the fields `push_order_to_lead` writes) and the
product bindings to the amoCRM catalog (each bound element's SKU and EXTERNAL_ID against the product; an element
deleted in amoCRM). A catalog repair re-pushes the element (`crm_catalog` sync, only changed elements go).

The platform wins over the deal (it carries the ERP's order): a repair re-pushes the deal through the outbox
topics `crm.lead.sync` and `crm.lead.products`, delivered by the relay like any other change. Deals are read
in pages of LEADS_PER_REQUEST (`filter[id][]`, with their catalog elements).
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from catalog.models import Product
from integration.amocrm import mappers as m
from integration.amocrm.catalog_push import ensure_elements, external_id_of
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import (
    lead_field_ids,
    note_language,
    products_version,
    shipment_label,
    target_status,
)
from integration.amocrm.errors import ApiError
from integration.bindings import binding_for
from integration.errors import IntegrationError
from integration.models import Backend, Binding, OutboxEvent
from integration.syncs import run_sync
from orders import events
from orders.models import Order

from .repair import CHUNK, Context, num
from .report import Drift, ReconcileReport

LEADS_PER_REQUEST = 50


def compare_crm(backend: Backend, *, repair: bool = False, progress=None) -> ReconcileReport:
    ctx = Context(backend, ReconcileReport(), repair, progress)
    client = ReadingClient(backend)
    DealComparison(ctx, client).run()
    return ctx.report


class ReadingClient(AmoCrmClient):
    """The client of one comparison: the pipelines are read once (`target_status` asks for them per deal)."""

    _pipelines: list[dict] | None = None

    def pipelines(self) -> list[dict]:
        if self._pipelines is None:
            self._pipelines = super().pipelines()
        return self._pipelines


def expected_fields(order: Order, backend: Backend) -> dict[str, str]:
    """The lead fields `push_order_to_lead` writes for this order, as it writes them."""
    with translation.override(note_language(backend)):
        return {
            m.ERP_NUMBER: order.erp_number or "—",
            m.ERP_STATUS: order.erp_state or str(order.get_status_display()),
            m.PAYMENT_STATUS: str(order.get_payment_status_display()),
            m.SHIPMENT_STATUS: str(shipment_label(order)),
        }


class DealComparison:
    def __init__(self, ctx: Context, client: AmoCrmClient):
        self.ctx, self.client, self.backend = ctx, client, ctx.backend
        self.product_type = ContentType.objects.get_for_model(Product)
        self.stale_hashes = 0  # elements whose binding hash was cleared for the catalog push

    def run(self) -> None:
        self.catalog()
        orders = Order.objects.filter(lead_id__isnull=False, erp_id__isnull=False).order_by("pk")
        batch: list[Order] = []
        for order in orders.iterator(chunk_size=CHUNK):
            batch.append(order)
            if len(batch) == LEADS_PER_REQUEST:
                self.compare_batch(batch)
                batch = []
        if batch:
            self.compare_batch(batch)

    def compare_batch(self, orders: list[Order]) -> None:
        leads = {
            int(raw["id"]): raw
            for raw in self.client.list_entities(
                "leads", {"filter[id][]": [o.lead_id for o in orders], "with": "catalog_elements"}
            )
        }
        busy = _deals_in_flight([o.pk for o in orders])
        elements = self.elements_of(orders)
        for order in orders:
            self.ctx.report.count("deal")
            raw = leads.get(order.lead_id)
            if raw is None:
                self.ctx.drift(
                    "deal", f"deal {order.lead_id} (order {order.pk})", obj=order, platform=order.erp_number,
                    crm="—", cause=_("the deal was deleted in amoCRM"), conflict_field="lead_id",
                )
                continue
            if order.pk in busy:
                continue  # our own update is on its way to amoCRM
            self.compare_deal(order, raw, elements)
        self.ctx.tick("deal")

    # ------------------------------------------------------------------ product bindings ↔ catalog elements
    def catalog(self) -> None:
        try:
            catalog_id = self.client.products_catalog_id()
        except ApiError:
            return  # no products catalog: nothing is bound to one
        seen: set[str] = set()
        page: list[dict] = []
        for element in self.client.elements(catalog_id):
            page.append(element)
            if len(page) == CHUNK:
                self.element_page(page, seen)
                page = []
        self.element_page(page, seen)
        bound = Binding.objects.filter(backend=self.backend, content_type=self.product_type)
        gone = [
            (object_id, external_id)
            for object_id, external_id in bound.values_list("object_id", "external_id").iterator(chunk_size=CHUNK)
            if external_id not in seen
        ]
        for object_id, external_id in gone:
            self.ctx.report.count("binding")
            product = Product.objects.filter(pk=object_id).only("pk", "article", "name").first()
            if product is None:
                continue
            self.ctx.drift(
                "binding", f"catalog element {external_id} ({product.article})", obj=product,
                platform=product.article, crm="—", cause=_("the catalog element was deleted in amoCRM"),
                fix=lambda object_id=object_id: self.push_again(object_id, forget=True),
            )
        if self.stale_hashes:
            self.push_catalog()  # after the walk: the elements it creates are not "gone"

    def element_page(self, elements: list[dict], seen: set[str]) -> None:
        ids = [str(e["id"]) for e in elements]
        seen.update(ids)
        bound = dict(
            Binding.objects.filter(backend=self.backend, content_type=self.product_type, external_id__in=ids)
            .values_list("external_id", "object_id")
        )
        products = Product.objects.in_bulk(list(bound.values()))
        for element in elements:
            product = products.get(bound.get(str(element["id"]), 0))
            if product is None:
                continue  # not ours, or its product was deleted: the catalog push decides
            self.ctx.report.count("binding")
            values = m.values_by_code(element.get("custom_fields_values"))
            held = (m.first(values, "SKU"), m.first(values, "EXTERNAL_ID"))
            wanted = (product.article, external_id_of(product))
            if held != wanted:
                self.ctx.drift(
                    "binding", f"catalog element {element['id']} ({product.article})", obj=product,
                    platform=" / ".join(wanted), crm=" / ".join(held),
                    cause=_("the catalog element was edited in amoCRM, or the catalog push is behind"),
                    fix=lambda pk=product.pk: self.push_again(pk),
                )

    def push_again(self, product_id: int, *, forget: bool = False) -> None:
        """Send this product's element again: the binding is dropped when the element is gone (a new one is
        created at once); otherwise its hash is cleared and one catalog push after the page walk sends it."""
        binding = Binding.objects.filter(backend=self.backend, content_type=self.product_type, object_id=product_id)
        if forget:
            binding.delete()
            ensure_elements(self.backend, [product_id], client=self.client)
            return
        binding.update(content_hash="")
        self.stale_hashes += 1

    def push_catalog(self) -> None:
        try:
            run = run_sync("crm_catalog", self.backend)
            failed = run.error if run.status == run.Status.FAILED else ""
        except IntegrationError as exc:
            failed = str(exc)
        if failed:
            self.ctx.report.add(Drift(
                "binding", "catalog push", platform=str(self.stale_hashes), crm="—",
                cause=_("the catalog push after the repair failed: %(error)s") % {"error": failed},
            ))

    def elements_of(self, orders: list[Order]) -> dict[int, int]:
        """Product pk → its amoCRM catalog element id, for the products of these orders."""
        product_ids = {
            pid for o in orders for pid in o.lines.values_list("product_id", flat=True)
        }
        return {
            object_id: int(external_id)
            for object_id, external_id in Binding.objects.filter(
                backend=self.backend, content_type=self.product_type, object_id__in=product_ids
            ).values_list("object_id", "external_id")
            if external_id.isdigit()
        }

    def compare_deal(self, order: Order, raw: dict, elements: dict[int, int]) -> None:
        key = f"deal {order.lead_id} (order {order.pk})"
        lead = m.lead_snapshot(raw)
        # Products: the order's lines, as catalog elements with quantities.
        wanted: dict[str, Decimal] = {}
        for product_id, article, quantity in order.lines.values_list("product_id", "product__article", "base_quantity"):
            label = str(elements.get(product_id) or _("%(article)s (not in the amoCRM catalog)") % {"article": article})
            wanted[label] = wanted.get(label, Decimal("0")) + quantity
        current = {str(p.element_id): p.quantity for p in lead.products}
        seen = binding_for(self.backend, order)
        edited = seen is not None and bool(seen.remote_version) and seen.remote_version != products_version(lead)
        # A deal without products next to a cart set in the widget is by design (the cart is not pushed); a deal
        # whose products changed since we last saw them, or that shows other products, is out of step.
        if (edited or current) and _normal(wanted) != _normal(current):
            self.ctx.drift(
                "deal", f"{key} products", obj=order, platform=_products_view(wanted), crm=_products_view(current),
                cause=_("the deal's products were edited in amoCRM and the change did not reach us")
                if edited else _("our update of the deal's products was lost"),
                fix=lambda: _repush(events.crm_lead_products, order),
            )
        # The stage and the fields push_order_to_lead writes.
        fields = expected_fields(order, self.backend)
        codes = {field_id: code for code, field_id in lead_field_ids(self.client).items()}
        held = {
            codes[int(f["field_id"])]: str((f.get("values") or [{}])[0].get("value", ""))
            for f in raw.get("custom_fields_values") or []
            if int(f.get("field_id") or 0) in codes
        }
        differing = sorted(code for code, value in fields.items() if held.get(code, "") != value)
        stage = target_status(self.client, order, raw)
        if differing or stage is not None:
            platform = [f"{code}={fields[code]}" for code in differing]
            crm = [f"{code}={held.get(code, '—')}" for code in differing]
            if stage is not None:
                platform.append(_("stage %(id)s") % {"id": stage})
                crm.append(_("stage %(id)s") % {"id": lead.status_id})
            self.ctx.drift(
                "deal", f"{key} stage and fields", obj=order, platform="; ".join(platform), crm="; ".join(crm),
                cause=_("the deal was moved or edited in amoCRM, or our update of it was lost"),
                fix=lambda: _repush(events.crm_lead_sync, order),
            )


def _repush(enqueue, order: Order) -> None:
    with transaction.atomic():
        if enqueue(order) is None:
            raise LookupError("no active amoCRM backend to push the deal to")


def _deals_in_flight(order_ids: list[int]) -> set[int]:
    return {
        int(pk)
        for pk in OutboxEvent.objects.filter(
            aggregate_id__in=[str(pk) for pk in order_ids],
            topic__startswith="crm.lead.",
            status__in=(OutboxEvent.Status.PENDING, OutboxEvent.Status.IN_FLIGHT),
        ).values_list("aggregate_id", flat=True)
    }


def _normal(items: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v.normalize() for k, v in items.items()}


def _products_view(items: dict[str, Decimal]) -> str:
    return ", ".join(f"{k} × {num(v)}" for k, v in sorted(items.items())) or "—"
