"""Verb-named write actions on orders. Each runs in one transaction with the order row locked; outgoing
events go through the outbox in the same transaction (see orders.events)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.availability import to_base
from catalog.models import MONEY, QTY, Batch, KitComponent, Pack, Product, Warehouse
from documents.vat import line_amounts
from orders import events
from orders.errors import InsufficientStock, InvalidCart, InvalidInput, NotAllowed, OrderClosed
from orders.locks import lock_order
from orders.models import Approval, Order, OrderLine, Reservation, Shipment, ShipmentLine, WarehouseRule
from orders.pricing import base_prices, price_list_for
from orders.reservations import GuardOutcome, guard_and_reserve, held_per_line
from orders.types import Actor, CartLine, ErpOrderSnapshot, LineReserve, ReserveResult, ShipmentInput
from orders.warehouses import NONE as NO_WAREHOUSE
from orders.warehouses import WarehouseChoice, by_stock, one_warehouse_per_order, order_default

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CLOSED_STATUSES = {
    Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED, Order.Status.CANCELLED, Order.Status.CLOSED,
}
ACTIVE_RESERVATION = [Reservation.Status.PENDING, Reservation.Status.CONFIRMED]


def get_or_create_order_for_lead(lead_id: int, *, counterparty=None, warehouse=None) -> Order:
    """The order of an amoCRM lead, created on first use; fills a missing counterparty/warehouse. A cart
    reserved before the counterparty was known goes to the ERP now."""
    order, created = Order.objects.get_or_create(
        lead_id=lead_id, defaults={"counterparty": counterparty, "warehouse": warehouse}
    )
    if created or not ((counterparty and not order.counterparty_id) or (warehouse and not order.warehouse_id)):
        return order
    with transaction.atomic():
        order = lock_order(order.pk)
        changed = []
        if counterparty is not None and order.counterparty_id is None:
            order.counterparty = counterparty
            changed.append("counterparty")
        if warehouse is not None and order.warehouse_id is None:
            order.warehouse = warehouse
            changed.append("warehouse")
        if "counterparty" in changed and order.status == Order.Status.RESERVE_PENDING and not order.erp_id:
            _queue_erp_upsert(order)
            changed.append("erp_pending_reason")
        if changed:
            order.save(update_fields=[*changed, "updated_at"])
    return order


def _queue_erp_upsert(order: Order, counterparty_note: str = ""):
    """Enqueue the ERP upsert, or say on the order why the ERP cannot get it yet (the caller saves)."""
    event = events.erp_order_upsert(order)
    if event is not None:
        order.erp_pending_reason = ""
    elif order.counterparty_id is None:
        reason = str(_("The ERP gets the order once it has a counterparty: link a company or a contact with valid "
                       "requisites to the deal."))
        order.erp_pending_reason = f"{reason} {counterparty_note}".strip()[:1000]
    else:
        order.erp_pending_reason = str(_("No ERP is connected: the order stays here."))
    return event


def _ensure_open(order: Order) -> None:
    if order.status in CLOSED_STATUSES:
        raise OrderClosed(order)


def _line_warehouses(order: Order, cart: Sequence[CartLine], products) -> list[WarehouseChoice]:
    """The warehouse of each cart line by the rule of orders.warehouses (explicit ones are validated later)."""
    kept: dict[int, int] = {}
    for line in order.lines.filter(warehouse__active=True).order_by("position"):
        kept.setdefault(line.product_id, line.warehouse_id)
    default = order_default(order)
    choices: list[WarehouseChoice | None] = []
    for item in cart:
        if item.warehouse_id:
            choices.append(WarehouseChoice(item.warehouse_id, WarehouseRule.CHOSEN))
        elif item.product_id in kept:
            choices.append(WarehouseChoice(kept[item.product_id], WarehouseRule.KEPT))
        elif default.warehouse_id is not None:
            choices.append(default)
        else:
            choices.append(None)
    product = products.get
    stocked = [item.product_id for item, choice in zip(cart, choices, strict=True)
               if choice is None and product(item.product_id) and product(item.product_id).kind != Product.Kind.SERVICE]
    stock = by_stock(stocked)
    resolved = [choice or stock.get(item.product_id, NO_WAREHOUSE) for item, choice in zip(cart, choices, strict=True)]
    return _one_warehouse(resolved, cart) if one_warehouse_per_order() else resolved


def _one_warehouse(choices: list[WarehouseChoice], cart: Sequence[CartLine]) -> list[WarehouseChoice]:
    """The ERP reserves the whole order in one warehouse: the first one a line names (else the first line's). Lines
    that named none take it; a line that named another is refused (the ERP would hold its goods where the platform
    did not reserve them)."""
    chosen = (c for item, c in zip(cart, choices, strict=True) if item.warehouse_id and c.warehouse_id is not None)
    first = next(chosen, None) or next((c for c in choices if c.warehouse_id is not None), None)
    if first is None:
        return choices
    for i, (item, choice) in enumerate(zip(cart, choices, strict=True)):
        if item.warehouse_id and choice.warehouse_id != first.warehouse_id:
            name = Warehouse.objects.filter(pk=first.warehouse_id).values_list("name", flat=True).first()
            raise InvalidCart(
                _("The ERP takes one warehouse per order: this order ships from «%(warehouse)s». Choose it for this "
                  "line, or sell the line in another deal.") % {"warehouse": name},
                field=f"lines[{i}].warehouse",
            )
    return [c if c.warehouse_id in (None, first.warehouse_id) or c.rule == WarehouseRule.CHOSEN
            else WarehouseChoice(first.warehouse_id, WarehouseRule.ORDER) for c in choices]


def _build_lines(order: Order, cart: Sequence[CartLine], price_list) -> list[OrderLine]:
    """Validated, priced, unsaved order lines; errors name the field as ``lines[i].<field>``."""
    products = Product.objects.in_bulk({line.product_id for line in cart})
    packs = Pack.objects.in_bulk({line.pack_id for line in cart if line.pack_id})
    batches = Batch.objects.in_bulk({line.batch_id for line in cart if line.batch_id})
    warehouses = Warehouse.objects.filter(active=True).in_bulk({line.warehouse_id for line in cart if line.warehouse_id})
    prices = base_prices(products, price_list)
    chosen = _line_warehouses(order, cart, products)
    lines = []
    for i, item in enumerate(cart):
        product = products.get(item.product_id)
        if product is None or not product.active:
            raise InvalidCart(_("Unknown or inactive product."), field=f"lines[{i}].product")
        if item.quantity is None or item.quantity <= 0:
            raise InvalidCart(_("The quantity must be greater than zero."), field=f"lines[{i}].quantity")
        if not ZERO <= item.discount_percent <= HUNDRED:
            raise InvalidCart(_("The discount must be between 0 and 100%."), field=f"lines[{i}].discount_percent")
        pack = None
        if item.pack_id:
            pack = packs.get(item.pack_id)
            if pack is None or pack.product_id != product.pk:
                raise InvalidCart(_("This pack does not belong to the product."), field=f"lines[{i}].pack")
        warehouse_id, warehouse_rule = chosen[i].warehouse_id, chosen[i].rule
        if item.warehouse_id and item.warehouse_id not in warehouses:
            raise InvalidCart(_("Unknown or inactive warehouse."), field=f"lines[{i}].warehouse")
        if warehouse_id is None and product.kind != Product.Kind.SERVICE:
            raise InvalidCart(_("Choose a warehouse."), field=f"lines[{i}].warehouse")
        batch = None
        if item.batch_id:
            batch = batches.get(item.batch_id)
            if batch is None or batch.product_id != product.pk:
                raise InvalidCart(_("This batch does not belong to the product."), field=f"lines[{i}].batch")
            if product.tracking == Product.Tracking.NONE:
                raise InvalidCart(_("The product is not tracked by batch."), field=f"lines[{i}].batch")
        base_quantity = to_base(item.quantity, pack) if pack else item.quantity
        if item.price is not None:
            price = item.price
        elif product.pk in prices:
            price = prices[product.pk] * (pack.factor if pack else 1)
        else:
            raise InvalidCart(
                _("The product has no price in the price list %(list)s.") % {"list": price_list or "—"},
                field=f"lines[{i}].price",
            )
        price = price.quantize(Decimal("0.01"))
        amounts = line_amounts(
            price=price, quantity=item.quantity, discount_percent=item.discount_percent, vat_rate=product.vat_rate
        )
        if not (_fits(base_quantity, QTY) and _fits(price, MONEY) and _fits(amounts.total, MONEY)):
            raise InvalidCart(_("The quantity is too large: the line's amount does not fit."),
                              field=f"lines[{i}].quantity")
        line = OrderLine(
            order=order, position=i, product=product, warehouse_id=warehouse_id, warehouse_rule=warehouse_rule,
            batch=batch, pack=pack,
            quantity=item.quantity, base_quantity=base_quantity, price=price,
            discount_percent=item.discount_percent, vat_rate=product.vat_rate, total=amounts.total,
            vat_amount=amounts.vat,
        )
        lines.append(line)
    if not _fits(sum((line.total for line in lines), ZERO), MONEY):
        raise InvalidCart(_("The cart's total is too large."), field="lines")
    return lines


def _fits(value: Decimal, field: dict) -> bool:
    """Whether `value` (rounded to the field's places) fits a DecimalField of `field`'s max_digits/decimal_places."""
    places = field["decimal_places"]
    return abs(value) < Decimal(10) ** (field["max_digits"] - places) - Decimal(5).scaleb(-places - 1)


def _replace_reservations(order: Order, lines: Sequence[OrderLine], *, allow_shortage: bool) -> GuardOutcome:
    """Run the stock guard for `lines`, then release the reservations the order held before."""
    previous = list(Reservation.objects.filter(order=order, status__in=ACTIVE_RESERVATION).values_list("pk", flat=True))
    outcome = guard_and_reserve(order, lines, allow_shortage=allow_shortage)
    Reservation.objects.filter(pk__in=previous).update(status=Reservation.Status.RELEASED, line=None)
    return outcome


def _set_totals(order: Order, lines: Sequence[OrderLine]) -> None:
    order.total = sum((line.total for line in lines), ZERO)
    order.vat_total = sum((line.vat_amount for line in lines), ZERO)


def _close_open_approvals(order: Order, reason: str) -> None:
    order.approvals.filter(status=Approval.Status.REQUESTED).update(
        status=Approval.Status.REJECTED, reason=reason, decided_at=timezone.now()
    )


def _attribute(order: Order, actor: Actor, reason: str) -> None:
    """History attribution for django-simple-history."""
    if actor.user is not None:
        order._history_user = actor.user
    order._change_reason = f"{reason} ({actor.label})"[:100]


def _result(order: Order, lines: list[LineReserve], event=None) -> ReserveResult:
    return ReserveResult(
        order_id=order.pk, status=order.status, version=order.version, lines=lines, erp_number=order.erp_number,
        erp_event=event,
    )


def _after_guard(order: Order, outcome: GuardOutcome, actor: Actor, *, has_lines: bool,
                 counterparty_note: str = "") -> object | None:
    """Status, approval request and events after the guard ran; returns the ERP upsert event, if any."""
    if outcome.shortages and not outcome.reservations:
        order.status = Order.Status.AWAITING_APPROVAL
        Approval.objects.create(
            order=order, shortage=[s.as_json() for s in outcome.shortages], requested_by=actor.label
        )
    elif has_lines:
        order.status = Order.Status.RESERVE_PENDING
    else:
        order.status = Order.Status.DRAFT
    event = None
    order.erp_pending_reason = ""
    if order.status == Order.Status.RESERVE_PENDING or (not has_lines and order.erp_id):
        event = _queue_erp_upsert(order, counterparty_note)
    order.save()
    events.crm_lead_sync(order)
    return event


def set_cart(
    order: Order, lines: list[CartLine], *, delivery_address: str | None = None, comment: str | None = None,
    actor: Actor, counterparty_note: str = "",
) -> ReserveResult:
    """Replace the order's cart and reserve it all, or raise InsufficientStock with the shortage per line
    (the cart is kept, nothing is reserved and the order awaits a shortage approval). Lines without a warehouse
    get one by the rule of orders.warehouses; the order takes its first line's warehouse when it has none.
    `counterparty_note`: why the order has no counterparty yet, shown with the ERP pending reason."""
    with transaction.atomic():
        order = lock_order(order.pk)
        _ensure_open(order)
        price_list = price_list_for(order.counterparty)
        new_lines = _build_lines(order, lines, price_list)
        # Keep the old reservations (history) but detach them: the lines they point to are replaced.
        Reservation.objects.filter(order=order, line__isnull=False).update(line=None)
        order.lines.all().delete()
        saved = OrderLine.objects.bulk_create(new_lines)
        outcome = _replace_reservations(order, saved, allow_shortage=False)
        _close_open_approvals(order, str(_("superseded by a new cart")))
        order.price_list = price_list
        first_warehouse = next((line.warehouse_id for line in saved if line.warehouse_id), None)
        if order.warehouse_id is None or (first_warehouse and one_warehouse_per_order()):
            order.warehouse_id = first_warehouse  # one per order: the whole order moves with its lines
        if price_list is not None:
            order.currency = price_list.currency
        if delivery_address is not None:
            order.delivery_address = delivery_address
        if comment is not None:
            order.comment = comment
        _set_totals(order, saved)
        order.version += 1
        if order.first_cart_at is None and saved:
            order.first_cart_at = timezone.now()
        _attribute(order, actor, "cart set")
        event = _after_guard(order, outcome, actor, has_lines=bool(saved), counterparty_note=counterparty_note)
    if outcome.shortages:
        raise InsufficientStock(outcome.shortages)
    return _result(order, outcome.lines, event)


def reserve(order: Order, actor: Actor) -> ReserveResult:
    """Run the stock guard again for the current lines (e.g. once stock arrived for an awaiting order)."""
    with transaction.atomic():
        order = lock_order(order.pk)
        _ensure_open(order)
        lines = list(order.lines.select_related("product"))
        outcome = _replace_reservations(order, lines, allow_shortage=False)
        if not outcome.shortages:
            _close_open_approvals(order, str(_("stock became available")))
        _attribute(order, actor, "reserve")
        event = _after_guard(order, outcome, actor, has_lines=bool(lines))
    if outcome.shortages:
        raise InsufficientStock(outcome.shortages)
    return _result(order, outcome.lines, event)


def approve_shortage(order: Order, actor: Actor, reason: str) -> ReserveResult:
    """Let an order awaiting approval go ahead "в минус": reserve every line, short ones included (those
    reservations are not automatic), and record who approved it, when and why."""
    allowed = actor.can_approve and (actor.user is None or actor.user.has_perm("orders.approve_shortage"))
    if not allowed:
        raise NotAllowed(_("You do not have the right to approve selling more than is available."))
    if not (reason or "").strip():
        raise InvalidInput(_("Give the reason for the approval."), field="reason")
    with transaction.atomic():
        order = lock_order(order.pk)
        _ensure_open(order)
        approval = order.approvals.filter(status=Approval.Status.REQUESTED).order_by("-pk").first()
        if order.status != Order.Status.AWAITING_APPROVAL or approval is None:
            raise NotAllowed(_("The order is not awaiting a shortage approval."))
        lines = list(order.lines.select_related("product"))
        outcome = _replace_reservations(order, lines, allow_shortage=True)
        approval.status = Approval.Status.APPROVED
        approval.decided_by = actor.user
        approval.decided_by_crm_user = actor.crm_user_id
        approval.decided_at = timezone.now()
        approval.reason = reason.strip()
        if outcome.shortages:
            approval.shortage = [s.as_json() for s in outcome.shortages]
        approval.save()
        order.status = Order.Status.RESERVE_PENDING
        _attribute(order, actor, "shortage approved")
        event = _queue_erp_upsert(order)
        order.save()
        events.crm_lead_sync(order)
    return _result(order, outcome.lines, event)


def cancel(order: Order, actor: Actor) -> Order:
    """Cancel an order that has not shipped: release its reserves, cancel the ERP order, tell the deal."""
    with transaction.atomic():
        order = lock_order(order.pk)
        if order.status == Order.Status.CANCELLED:
            return order
        _ensure_open(order)
        Reservation.objects.filter(order=order, status__in=ACTIVE_RESERVATION).update(
            status=Reservation.Status.RELEASED
        )
        _close_open_approvals(order, str(_("order cancelled")))
        order.status = Order.Status.CANCELLED
        _attribute(order, actor, "cancelled")
        order.save()
        if order.erp_id or order.first_cart_at:
            events.erp_order_cancel(order)
        events.crm_lead_sync(order)
    return order


def _kit_components(product_ids) -> dict[int, list[KitComponent]]:
    result: dict[int, list[KitComponent]] = defaultdict(list)
    for comp in KitComponent.objects.filter(kit_id__in=list(product_ids)).order_by("component_id"):
        result[comp.kit_id].append(comp)
    return result


def _confirmed_reservations(order, line, quantity: Decimal, components, now) -> list[Reservation]:
    if quantity <= 0 or line.product.kind == Product.Kind.SERVICE or line.warehouse_id is None:
        return []
    parts = (
        [(c.component_id, quantity * c.quantity) for c in components.get(line.product_id, [])]
        if line.product.kind == Product.Kind.KIT
        else [(line.product_id, quantity)]
    )
    return [
        Reservation(
            order=order, line=line, product_id=pid, warehouse_id=line.warehouse_id, batch_id=line.batch_id,
            quantity=qty, status=Reservation.Status.CONFIRMED, confirmed_at=now,
        )
        for pid, qty in parts
    ]


def _follow_erp_reserve(order: Order, lines: list[OrderLine], held: Decimal, components, now) -> None:
    """The ERP reserved more or less of these lines than we hold (its staff reserved after a supply, or gave
    goods to another client): the ERP wins — our reservations become what it holds, line by line."""
    Reservation.objects.filter(order=order, line__in=lines, status__in=ACTIVE_RESERVATION).update(
        status=Reservation.Status.RELEASED
    )
    created = []
    for line in lines:
        share = min(held, max(ZERO, line.base_quantity - line.shipped_quantity))
        held -= share
        created += _confirmed_reservations(order, line, share, components, now)
    Reservation.objects.bulk_create(created)


def apply_erp_order(order: Order, snapshot: ErpOrderSnapshot) -> Order:
    """The ERP's view of the order wins: store its id/number/state, make the lines follow its composition
    (each difference recorded as an auto-resolved conflict, the deal's products rewritten) and confirm
    the reservations. Snapshots older than the last one applied are skipped."""
    from integration.conflicts import record_conflict  # integration core; imported late to keep orders light

    with transaction.atomic():
        order = lock_order(order.pk)
        if snapshot.updated_at and order.erp_updated_at and snapshot.updated_at <= order.erp_updated_at:
            return order
        now = timezone.now()
        order.erp_id = snapshot.erp_id
        order.erp_number = snapshot.number
        order.erp_state = snapshot.state
        order.erp_updated_at = snapshot.updated_at or now
        ours: dict[int, list[OrderLine]] = defaultdict(list)
        for line in order.lines.select_related("product", "pack"):
            ours[line.product_id].append(line)
        theirs: dict[int, list] = defaultdict(list)
        for erp_line in snapshot.lines:
            theirs[erp_line.product_id].append(erp_line)
        products = Product.objects.in_bulk(set(ours) | set(theirs))
        components = _kit_components(products)
        held = held_per_line([line for lines in ours.values() for line in lines])
        default = order_default(order)
        changed = False
        kept_lines: list[OrderLine] = []
        position = 0
        for pid in sorted(set(ours) | set(theirs), key=lambda p: (p not in ours, p)):
            our_lines, erp_lines = ours.get(pid, []), theirs.get(pid, [])
            our_qty = sum((line.base_quantity for line in our_lines), ZERO)
            erp_qty = sum((line.quantity_base for line in erp_lines), ZERO)
            erp_reserved = sum((line.reserved for line in erp_lines), ZERO)
            article = products[pid].article
            our_prices = sorted({str(line.base_price) for line in our_lines})
            erp_prices = sorted({str(line.price.quantize(Decimal("0.01"))) for line in erp_lines})
            same = our_qty == erp_qty and (not erp_lines or our_prices == erp_prices)
            if same:
                for line in our_lines:
                    line.position = position
                    position += 1
                    kept_lines.append(line)
                # The ERP's reserve counts what shipped; we count shipments as we register them (before or
                # after this snapshot), so ours to hold is its reserve less what we know left the store.
                shipped = sum((line.shipped_quantity for line in our_lines), ZERO)
                to_hold = max(ZERO, erp_reserved - shipped)
                if sum((held.get(line.pk, ZERO) for line in our_lines), ZERO) != to_hold:
                    _follow_erp_reserve(order, our_lines, to_hold, components, now)
                else:
                    Reservation.objects.filter(
                        order=order, line__in=our_lines, status=Reservation.Status.PENDING
                    ).update(status=Reservation.Status.CONFIRMED, confirmed_at=now)
                continue
            changed = True
            if our_qty != erp_qty:
                record_conflict(order, f"lines.{article}.quantity", erp_value=str(erp_qty), crm_value=str(our_qty))
            if erp_lines and our_lines and our_prices != erp_prices:
                record_conflict(order, f"lines.{article}.price", erp_value=", ".join(erp_prices),
                                crm_value=", ".join(our_prices))
            choice = (WarehouseChoice(our_lines[0].warehouse_id, WarehouseRule.KEPT) if our_lines
                      else default if default.warehouse_id or products[pid].kind == Product.Kind.SERVICE
                      else by_stock([pid]).get(pid, NO_WAREHOUSE))
            Reservation.objects.filter(order=order, line__in=our_lines, status__in=ACTIVE_RESERVATION).update(
                status=Reservation.Status.RELEASED, line=None
            )
            Reservation.objects.filter(order=order, line__in=our_lines).update(line=None)
            OrderLine.objects.filter(pk__in=[line.pk for line in our_lines]).delete()
            for erp_line in erp_lines:
                product = products[pid]
                amounts = line_amounts(
                    price=erp_line.price, quantity=erp_line.quantity_base,
                    discount_percent=erp_line.discount_percent, vat_rate=product.vat_rate,
                )
                line = OrderLine.objects.create(
                    order=order, position=position, product=product, warehouse_id=choice.warehouse_id,
                    warehouse_rule=choice.rule,
                    quantity=erp_line.quantity_base, base_quantity=erp_line.quantity_base, price=erp_line.price,
                    discount_percent=erp_line.discount_percent, vat_rate=product.vat_rate, total=amounts.total,
                    vat_amount=amounts.vat,
                )
                position += 1
                kept_lines.append(line)
                share = min(erp_reserved, erp_line.quantity_base)
                erp_reserved -= share
                Reservation.objects.bulk_create(_confirmed_reservations(order, line, share, components, now))
        for line in kept_lines:
            line.save(update_fields=["position"])
        _set_totals(order, kept_lines)
        if order.status in {Order.Status.DRAFT, Order.Status.RESERVE_PENDING, Order.Status.AWAITING_APPROVAL}:
            order.status = Order.Status.RESERVED
            order.erp_pending_reason = ""
        if changed:
            _close_open_approvals(order, str(_("the ERP changed the order")))
        order._change_reason = "ERP order applied"
        order.save()
        if changed:
            events.crm_lead_products(order)
        events.crm_lead_sync(order)
    return order


def _release_shipped(line: OrderLine, shipped: Decimal, components) -> None:
    """Goods left the warehouse: shrink the line's active reservations by what shipped (kits: components)."""
    per_unit = (
        {c.component_id: c.quantity for c in components.get(line.product_id, [])}
        if line.product.kind == Product.Kind.KIT
        else {line.product_id: Decimal("1")}
    )
    for res in Reservation.objects.filter(line=line, status__in=ACTIVE_RESERVATION).order_by("pk"):
        take = min(res.quantity, shipped * per_unit.get(res.product_id, ZERO))
        if take <= 0:
            continue
        res.quantity -= take
        if res.quantity == 0:
            res.status = Reservation.Status.RELEASED
        res.save(update_fields=["quantity", "status", "updated_at"])


def _roll_up_status(order: Order, lines: Sequence[OrderLine]) -> None:
    goods = [line for line in lines if line.product.kind != Product.Kind.SERVICE] or list(lines)
    shipped = sum((line.shipped_quantity for line in goods), ZERO)
    returned = sum((line.returned_quantity for line in goods), ZERO)
    if not goods or shipped == 0 or order.status == Order.Status.CANCELLED:
        return  # a cancelled order stays so until staff decide (see _flag_shipped_after_cancel)
    fully_shipped = all(line.shipped_quantity >= line.base_quantity for line in goods)
    if fully_shipped and (returned >= shipped or order.payment_status == Order.PaymentStatus.PAID):
        order.status = Order.Status.CLOSED
    elif returned >= shipped:
        order.status = Order.Status.CLOSED
    elif fully_shipped:
        order.status = Order.Status.SHIPPED
    else:
        order.status = Order.Status.PARTIALLY_SHIPPED


def _register_movement(order: Order, data: ShipmentInput, *, is_return: bool) -> Shipment:
    with transaction.atomic():
        order = lock_order(order.pk)
        if data.erp_id:
            existing = Shipment.objects.filter(erp_id=data.erp_id).first()
            if existing is not None:
                return existing
        shipment = Shipment.objects.create(
            order=order, erp_id=data.erp_id or None, number=data.number, shipped_at=data.shipped_at,
            is_return=is_return,
        )
        lines = list(order.lines.select_related("product").select_for_update(of=("self",)).order_by("position"))
        components = _kit_components({line.product_id for line in lines})
        for i, item in enumerate(data.lines):
            if item.quantity_base <= 0:
                raise InvalidInput(_("The quantity must be greater than zero."), field=f"lines[{i}].quantity")
            ShipmentLine.objects.create(shipment=shipment, product_id=item.product_id, quantity=item.quantity_base)
            matching = [line for line in lines if line.product_id == item.product_id]
            left = item.quantity_base
            for n, line in enumerate(matching):
                last = n == len(matching) - 1
                if is_return:
                    room = line.shipped_quantity - line.returned_quantity
                    take = left if last else min(room, left)
                    line.returned_quantity += take
                else:
                    room = max(line.base_quantity - line.shipped_quantity, ZERO)
                    take = left if last else min(room, left)
                    line.shipped_quantity += take
                    _release_shipped(line, take, components)
                left -= take
                line.save(update_fields=["shipped_quantity", "returned_quantity"])
                if left <= 0:
                    break
        _roll_up_status(order, lines)
        if order.status == Order.Status.CANCELLED and not is_return:
            _flag_shipped_after_cancel(order, shipment)
        order._change_reason = "return registered" if is_return else "shipment registered"
        order.save()
        events.crm_lead_sync(order)
    return shipment


def _flag_shipped_after_cancel(order: Order, shipment: Shipment) -> None:
    """The ERP shipped an order cancelled here before it heard of the cancel: the goods have left, a fact the
    platform records; whether they come back or the order is revived is for staff, so the conflict stays open."""
    from integration.conflicts import record_conflict
    from integration.models import Conflict

    record_conflict(
        order, f"shipment.{shipment.number or shipment.erp_id or shipment.pk}",
        erp_value=str(_("shipped: %(shipment)s") % {"shipment": shipment.number or shipment.erp_id}),
        crm_value=Order.Status.CANCELLED.value, policy=Conflict.Policy.MANUAL, auto_resolved=False,
    )


def register_shipment(order: Order, data: ShipmentInput) -> Shipment:
    """Goods shipped (from the ERP): roll up per line and into the order status; reserves shrink."""
    return _register_movement(order, data, is_return=False)


def register_return(order: Order, data: ShipmentInput) -> Shipment:
    """Goods came back: roll up per line (returned ≤ shipped is not enforced: the ERP wins)."""
    return _register_movement(order, data, is_return=True)
