"""Deals ↔ orders.

Inbound (a webhook said a lead changed): re-read the lead and its product links through the API, skip a state
older than (or the same as) the one already applied, resolve the counterparty, map catalog elements to products
and set the order's cart; a shortage, an unknown product or bad requisites are told to the manager in a note.

Outbound (outbox topics): `crm.lead.sync` writes ERP status, number, payment and shipment into lead fields, moves
the lead along the configured stage mapping and notes it in the timeline; `crm.lead.products` rewrites the deal's
products when the ERP changed the order (the ERP wins; the difference is recorded as a conflict).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from catalog.models import Product
from counterparties.models import Counterparty
from documents.returns import order_net_figures
from integration.amocrm import mappers as m
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.errors import ValidationFailed
from integration.amocrm.parties import resolve_party
from integration.bindings import bind, binding_for, compute_hash, is_stale_or_unchanged, lookup
from integration.models import Backend
from integration.remembered import forget, remembered
from orders import actions as order_actions
from orders.errors import InsufficientStock, InvalidInput, OrderClosed
from orders.models import Order
from orders.types import Actor, CartLine

logger = logging.getLogger(__name__)
WON, LOST = 142, 143
DEFAULT_STAGES = {"awaiting_approval": "Согласование", "invoiced": "Счёт выставлен", "paid": "Оплачен",
                  "shipped": "Отгружен"}
LEAD_FIELDS = [
    {"code": m.ERP_NUMBER, "name": "Номер заказа в ERP", "type": "text", "sort": 510},
    {"code": m.ERP_STATUS, "name": "Статус заказа в ERP", "type": "text", "sort": 520},
    {"code": m.PAYMENT_STATUS, "name": "Оплата", "type": "text", "sort": 530},
    {"code": m.SHIPMENT_STATUS, "name": "Отгрузка", "type": "text", "sort": 540},
    {"code": m.NET_TOTAL, "name": "Сумма за вычетом возвратов", "type": "numeric", "sort": 550},
]


def note_language(backend: Backend) -> str:
    return backend.settings.get("note_language", "ru")


def add_note_once(client: AmoCrmClient, entity: str, entity_id: int, text: str) -> bool:
    """Add a common note unless the latest note of ours already says exactly this (retries and repeats)."""
    for note in reversed(client.notes(entity, entity_id, "common")):
        if note.get("params", {}).get("text") == text:
            return False
    client.add_note(entity, entity_id, "common", {"text": text})
    return True


def lead_hash(lead: m.LeadSnapshot) -> str:
    return compute_hash({"status": lead.status_id, "pipeline": lead.pipeline_id, "products": lead.products_key(),
                         "company": lead.company_id, "contact": lead.main_contact_id})


def products_version(lead: m.LeadSnapshot) -> str:
    """Kept in the order binding's remote_version: the deal's products as we last saw or wrote them. The cart
    follows the deal only when these changed in amoCRM, so a cart set in the widget or by the ERP is not
    overwritten by a deal whose products nobody touched (e.g. when only its stage moved)."""
    return compute_hash({"products": lead.products_key()})


# ------------------------------------------------------------------------------------------------------
# inbound: a lead changed in amoCRM
# ------------------------------------------------------------------------------------------------------
@dataclass
class LeadSyncResult:
    lead_id: int
    outcome: str  # applied | skipped | ignored | missing
    order_id: int | None = None
    problems: list[str] = field(default_factory=list)


def products_for_elements(client: AmoCrmClient, backend: Backend, items: list[m.LeadProduct]
                          ) -> tuple[dict[int, Product], list[int]]:
    """Catalog element id → product (bindings first, then the element's EXTERNAL_ID / SKU); unknown ids."""
    found: dict[int, Product] = {}
    missing = []
    for item in items:
        product = lookup(backend, Product, str(item.element_id))
        if product is not None:
            found[item.element_id] = product
        else:
            missing.append(item)
    unknown = []
    by_catalog: dict[int, list[int]] = {}
    for item in missing:
        by_catalog.setdefault(item.catalog_id, []).append(item.element_id)
    for catalog_id, ids in by_catalog.items():
        seen = set()
        for element in client.elements(catalog_id, ids=ids):
            values = m.values_by_code(element.get("custom_fields_values"))
            external, sku = m.first(values, "EXTERNAL_ID"), m.first(values, "SKU")
            product = None
            if external.startswith("amoerp:") and external[7:].isdigit():
                product = Product.objects.filter(pk=int(external[7:])).first()
            elif external:
                product = Product.objects.filter(erp_id=external).first()
            if product is None and sku:
                product = Product.objects.filter(article=sku).first()
            if product is not None:
                found[int(element["id"])] = product
                seen.add(int(element["id"]))
        unknown.extend(i for i in ids if i not in seen)
    return found, unknown


def _cart_of(order: Order) -> list[tuple[int, Decimal]]:
    return sorted((line.product_id, line.base_quantity.normalize()) for line in order.lines.all())


def sync_lead(backend: Backend, lead_id: int, *, client: AmoCrmClient | None = None) -> LeadSyncResult:
    client = client or AmoCrmClient(backend)
    raw = client.get_lead(lead_id)
    if raw is None:
        return LeadSyncResult(lead_id, "missing")
    lead = m.lead_snapshot(raw)
    pipeline = backend.settings.get("pipeline_id")
    if pipeline and int(pipeline) != lead.pipeline_id:
        return LeadSyncResult(lead_id, "ignored")
    order = Order.objects.filter(lead_id=lead_id).first()
    content_hash = lead_hash(lead)
    binding = binding_for(backend, order) if order is not None else None
    # An order still without its counterparty is looked at again: its company may have become valid meanwhile.
    waits_for_party = order is not None and order.counterparty_id is None and bool(lead.company_id or
                                                                                  lead.main_contact_id)
    if order is not None and not waits_for_party and is_stale_or_unchanged(binding, lead.updated_at, content_hash):
        return LeadSyncResult(lead_id, "skipped", order.pk)
    version = products_version(lead)
    products_changed = binding is None or binding.remote_version != version
    if order is None and not lead.products:
        return LeadSyncResult(lead_id, "ignored")  # nothing to order yet
    problems: list[str] = []
    counterparty = None
    with translation.override(note_language(backend)):
        party = ("companies", lead.company_id) if lead.company_id else (
            ("contacts", lead.main_contact_id) if lead.main_contact_id else None)
        resolution = None
        if party is not None and _is_the_orders_client(backend, order, *party):
            counterparty = order.counterparty  # its own changes come by its webhook: not read again for the deal
        elif party is not None:
            resolution = resolve_party(client, backend, *party)
            counterparty = resolution.counterparty
            problems += resolution.problems
        order = order_actions.get_or_create_order_for_lead(lead_id, counterparty=counterparty)
        actor = Actor(crm_user_id=int(raw.get("responsible_user_id") or 0) or None, source="crm")
        if lead.status_id == LOST and order.status not in (Order.Status.CANCELLED, Order.Status.CLOSED):
            try:
                order_actions.cancel(order, actor)
            except (OrderClosed, InvalidInput) as exc:
                problems.append(str(exc))
        elif products_changed and (lead.products or binding is not None):
            note = "\n".join(resolution.problems) if resolution is not None else ""
            problems += _apply_products(client, backend, order, lead, actor, counterparty_note=note)
        if problems:
            add_note_once(client, "leads", lead_id, "\n".join([_("The ERP integration needs your attention:"),
                                                               *problems]))
    bind(backend, order, str(lead_id), remote_updated_at=lead.updated_at, content_hash=content_hash,
         remote_version=version)
    return LeadSyncResult(lead_id, "applied", order.pk, problems)


def _is_the_orders_client(backend: Backend, order: Order | None, entity: str, entity_id: int) -> bool:
    if order is None or order.counterparty_id is None:
        return False
    bound = lookup(backend, Counterparty, f"{entity}:{entity_id}")
    return bound is not None and bound.survivor.pk == order.counterparty_id


def orders_waiting_for_a_party():
    """Open orders of deals still without their counterparty (a company with a wrong ИНН, say)."""
    return Order.objects.filter(counterparty__isnull=True, lead_id__isnull=False).exclude(
        status__in=(Order.Status.CANCELLED, Order.Status.CLOSED))


def leads_waiting_for(raw_party: dict | None) -> list[int]:
    """The deals of this company or contact (read `with=leads`) whose open orders still wait for it."""
    linked = [int(item["id"]) for item in ((raw_party or {}).get("_embedded") or {}).get("leads") or []]
    return sorted(orders_waiting_for_a_party().filter(lead_id__in=linked).values_list("lead_id", flat=True))


def _apply_products(client: AmoCrmClient, backend: Backend, order: Order, lead: m.LeadSnapshot,
                    actor: Actor, *, counterparty_note: str = "") -> list[str]:
    products, unknown = products_for_elements(client, backend, list(lead.products))
    problems = [_("Product #%(id)s of the deal is not in the ERP catalog; it was left out of the order.")
                % {"id": element_id} for element_id in unknown]
    quantities: dict[int, Decimal] = {}
    for item in lead.products:
        product = products.get(item.element_id)
        if product is not None and item.quantity > 0:
            quantities[product.pk] = quantities.get(product.pk, Decimal("0")) + item.quantity
    cart = sorted((pid, qty.normalize()) for pid, qty in quantities.items())
    if cart == _cart_of(order):
        return problems
    lines = [CartLine(product_id=pid, quantity=qty) for pid, qty in cart]
    try:
        order_actions.set_cart(order, lines, actor=actor, counterparty_note=counterparty_note)
    except InsufficientStock as exc:
        names = Product.objects.in_bulk([s.product_id for s in exc.shortages])
        for shortage in exc.shortages:
            product = names.get(shortage.product_id)
            problems.append(_("Not enough %(product)s: %(requested)s requested, %(available)s available. The order "
                              "waits for a shortage approval.") % {
                "product": f"{product.article} {product.name}" if product else shortage.product_id,
                "requested": m.format_quantity(shortage.requested),
                "available": m.format_quantity(shortage.available)})
    except (OrderClosed, InvalidInput) as exc:
        problems.append(str(exc))
    return problems


# ------------------------------------------------------------------------------------------------------
# outbound: the order changed on our side
# ------------------------------------------------------------------------------------------------------
_lead_fields: dict[int, dict[str, int]] = {}


def lead_field_ids(client: AmoCrmClient, *, refresh: bool = False) -> dict[str, int]:
    backend_id = client.backend.pk
    if refresh or backend_id not in _lead_fields:
        fields = client.ensure_custom_fields("leads", LEAD_FIELDS)
        _lead_fields[backend_id] = {code: int(f["id"]) for code, f in fields.items()}
    return _lead_fields[backend_id]


def stage_key(order: Order) -> str:
    if order.status in (Order.Status.SHIPPED, Order.Status.CLOSED):
        return "shipped"
    if order.payment_status == Order.PaymentStatus.PAID:
        return "paid"
    if order.documents.filter(kind="invoice", status="issued").exists():
        return "invoiced"
    return order.status


PIPELINES_TTL = 300.0  # seconds; stages are renamed rarely, and a PATCH refused for a stale one forgets them


def known_pipeline(client: AmoCrmClient, pipeline_id: int) -> dict[str, Any] | None:
    """The lead's pipeline with its stages, read from amoCRM at most every few minutes per process (and again
    when a lead names one not seen yet)."""
    key = (client.backend.pk, client.backend.base_url, "pipelines")
    found = None
    for again in (False, True):
        pipelines = remembered(key, client.pipelines, ttl=PIPELINES_TTL, again=again)
        found = next((p for p in pipelines if int(p["id"]) == pipeline_id), None)
        if found is not None:
            break
    return found


def forget_pipelines(backend: Backend) -> None:
    forget(backend.pk, backend.base_url, "pipelines")


def target_status(client: AmoCrmClient, order: Order, raw_lead: dict[str, Any]) -> int | None:
    """The stage the lead should be in, or None: never out of won/lost, never backwards."""
    mapping = {**DEFAULT_STAGES, **(client.backend.settings.get("stage_mapping") or {})}
    wanted = mapping.get(stage_key(order))
    current = int(raw_lead.get("status_id") or 0)
    if not wanted or current in (WON, LOST):
        return None
    pipeline = known_pipeline(client, int(raw_lead.get("pipeline_id") or 0))
    if pipeline is None:
        return None
    statuses = pipeline.get("_embedded", {}).get("statuses", [])
    target = next((s for s in statuses if s["name"] == wanted or str(s["id"]) == str(wanted)), None)
    now = next((s for s in statuses if int(s["id"]) == current), None)
    if target is None or int(target["id"]) == current:
        return None
    if now is not None and target["sort"] < now["sort"]:
        return None
    return int(target["id"])


def shipment_label(order: Order) -> str:
    return {Order.Status.SHIPPED: _("shipped"), Order.Status.PARTIALLY_SHIPPED: _("partially shipped"),
            Order.Status.CLOSED: _("shipped")}.get(order.status, _("not shipped"))


def push_order_to_lead(backend: Backend, order_id: int, *, client: AmoCrmClient | None = None) -> dict[str, Any]:
    """crm.lead.sync: ERP number, status, payment and shipment → lead fields, stage, a timeline note.

    amoCRM allows 7 requests a second per account, shared with every other integration: a deal that already
    shows all this is only read; a change costs the read, the notes' read, the note and the lead's PATCH."""
    order = Order.objects.get(pk=order_id)
    if not order.lead_id:
        return {"skipped": "order has no lead"}
    client = client or AmoCrmClient(backend)
    raw = client.get_lead(order.lead_id)
    if raw is None:
        return {"skipped": f"lead {order.lead_id} not found"}
    with translation.override(note_language(backend)):
        values = {m.ERP_NUMBER: order.erp_number or "—", m.ERP_STATUS: order.erp_state or order.get_status_display(),
                  m.PAYMENT_STATUS: order.get_payment_status_display(), m.SHIPMENT_STATUS: shipment_label(order)}
        net = order_net_figures(order)
        values[m.NET_TOTAL] = f"{net.total:.2f}"
        values = {code: str(value) for code, value in values.items()}
        status_id = target_status(client, order, raw)
        ids = lead_field_ids(client)
        if status_id is None and _shown(raw, ids, values):
            return {"lead_id": order.lead_id, "status_id": None, "noted": False}
        text = _("ERP order %(number)s: %(status)s; payment: %(payment)s; shipment: %(shipment)s.") % {
            "number": values[m.ERP_NUMBER], "status": values[m.ERP_STATUS], "payment": values[m.PAYMENT_STATUS],
            "shipment": values[m.SHIPMENT_STATUS]}
        if net.returned:
            text += " " + _("Returned: %(quantity)s for %(amount)s; net of returns: %(net)s.") % {
                "quantity": m.format_quantity(net.returned), "amount": f"{net.returned_total:.2f}",
                "net": values[m.NET_TOTAL]}
        # The note first: a retry after a lost answer to the PATCH finds it, and one whose PATCH landed stops above.
        noted = add_note_once(client, "leads", order.lead_id, text)
        payload: dict[str, Any] = {} if status_id is None else {"status_id": status_id}
        try:
            payload["custom_fields_values"] = [m.text_value(ids[code], value) for code, value in values.items()]
            written = client.update_entity("leads", order.lead_id, payload)
        except ValidationFailed:
            ids = lead_field_ids(client, refresh=True)  # fields deleted/recreated by an admin meanwhile
            forget_pipelines(backend)  # or a stage renamed or removed
            payload["custom_fields_values"] = [m.text_value(ids[code], value) for code, value in values.items()]
            written = client.update_entity("leads", order.lead_id, payload)
    _bind_written(backend, order, raw, status_id, written)
    return {"lead_id": order.lead_id, "status_id": status_id, "noted": noted}


def _shown(raw_lead: dict[str, Any], ids: dict[str, int], values: dict[str, str]) -> bool:
    """Whether the lead's fields already say exactly these values (read by code, or by id when codeless)."""
    current = m.values_by_code(raw_lead.get("custom_fields_values"))
    return all(_same(current.get(code) or current.get(str(ids[code])) or [], value) for code, value in values.items())


def _same(held: list[Any], value: str) -> bool:
    """A numeric field comes back as amoCRM keeps the number ("2990" for our "2990.00"): compared by value."""
    if len(held) != 1:
        return False
    if str(held[0]) == value:
        return True
    try:
        return Decimal(str(held[0])) == Decimal(value)
    except ArithmeticError:
        return False


def _bind_written(backend: Backend, order: Order, raw_lead: dict[str, Any], status_id: int | None,
                  written: dict[str, Any]) -> None:
    """Our own write bumped the lead's updated_at (PATCH answers `{id, updated_at}`): record the lead as we left
    it, so its echo through the webhook is seen as unchanged, without reading it again."""
    lead = m.lead_snapshot({**raw_lead, **({"status_id": status_id} if status_id is not None else {}),
                            "updated_at": written.get("updated_at") or raw_lead.get("updated_at")})
    bind(backend, order, str(lead.id), remote_updated_at=lead.updated_at, content_hash=lead_hash(lead),
         remote_version=products_version(lead))


def _rebind_after_write(client: AmoCrmClient, backend: Backend, order: Order) -> None:
    """Our links changed the lead's products: read it back and record it, so its echo is seen as unchanged."""
    raw = client.get_lead(order.lead_id)
    if raw is not None:
        lead = m.lead_snapshot(raw)
        bind(backend, order, str(lead.id), remote_updated_at=lead.updated_at, content_hash=lead_hash(lead),
             remote_version=products_version(lead))


def push_products_to_lead(backend: Backend, order_id: int, *, client: AmoCrmClient | None = None) -> dict[str, Any]:
    """crm.lead.products: the ERP changed the order's composition → the deal's products follow (ERP wins)."""
    from integration.amocrm.catalog_push import ensure_elements
    from integration.conflicts import record_conflict

    order = Order.objects.get(pk=order_id)
    if not order.lead_id:
        return {"skipped": "order has no lead"}
    client = client or AmoCrmClient(backend)
    raw = client.get_lead(order.lead_id)
    if raw is None:
        return {"skipped": f"lead {order.lead_id} not found"}
    lead = m.lead_snapshot(raw)
    quantities: dict[int, Decimal] = {}
    for line in order.lines.all():
        quantities[line.product_id] = quantities.get(line.product_id, Decimal("0")) + line.base_quantity
    elements = ensure_elements(backend, list(quantities), client=client)
    catalog_id = client.products_catalog_id()
    wanted = {elements[pid]: qty for pid, qty in quantities.items() if pid in elements}
    current = {p.element_id: p.quantity for p in lead.products}
    if {k: v.normalize() for k, v in wanted.items()} == {k: v.normalize() for k, v in current.items()}:
        return {"lead_id": lead.id, "changed": False}
    record_conflict(order, "lines", erp_value={str(k): str(v) for k, v in sorted(wanted.items())},
                    crm_value={str(k): str(v) for k, v in sorted(current.items())})
    stale = [{"to_entity_id": eid, "to_entity_type": "catalog_elements", "metadata": {"catalog_id": catalog_id}}
             for eid in current if eid not in wanted or current[eid] != wanted[eid]]
    if stale:
        client.unlink("leads", lead.id, stale)
    fresh = [{"to_entity_id": eid, "to_entity_type": "catalog_elements",
              "metadata": {"catalog_id": catalog_id, "quantity": float(qty)}}
             for eid, qty in wanted.items() if current.get(eid) != qty]
    if fresh:
        client.link("leads", lead.id, fresh)
    with translation.override(note_language(backend)):
        add_note_once(client, "leads", lead.id, _(
            "The ERP changed the order's products; the deal was corrected to match the ERP order %(number)s.")
            % {"number": order.erp_number or order.pk})
    _rebind_after_write(client, backend, order)
    return {"lead_id": lead.id, "changed": True, "unlinked": len(stale), "linked": len(fresh)}

