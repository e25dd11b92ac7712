"""Our order as any ERP should hold it (types.OrderPush), built for the connectors' `erp.order.upsert` handlers:
lines in base units with their reserve, the counterparty matched or created in the ERP once."""

from __future__ import annotations

from decimal import Decimal

from counterparties.models import Counterparty
from integration.erp.protocol import ErpAdapter
from integration.erp.types import ErpCounterparty, OrderPush, OrderPushLine
from integration.errors import PermanentError
from orders.models import Order
from orders.reservations import held_per_line

CENT = Decimal("0.01")


def ensure_counterparty(adapter: ErpAdapter, counterparty: Counterparty) -> str:
    """The counterparty's ERP id: matched (ИНН+КПП, or phone/e-mail) or created once, then remembered."""
    if counterparty.erp_id:
        return counterparty.erp_id
    phone = counterparty.phones.order_by("-is_primary", "pk").values_list("number", flat=True).first() or ""
    email = counterparty.emails.order_by("-is_primary", "pk").values_list("address", flat=True).first() or ""
    found = adapter.ensure_counterparty(
        ErpCounterparty(
            name=counterparty.name,
            kind=counterparty.kind,
            inn=counterparty.inn,
            kpp=counterparty.kpp,
            ogrn=counterparty.ogrn,
            full_name=counterparty.full_name,
            legal_address=counterparty.legal_address,
            actual_address=counterparty.actual_address,
            phone=phone,
            email=email,
        )
    )
    Counterparty.objects.filter(pk=counterparty.pk).update(erp_id=found.erp_id)
    return found.erp_id or ""


def build_push(adapter: ErpAdapter, order: Order) -> OrderPush:
    if order.counterparty is None:
        raise PermanentError(f"order {order.uuid}: counterparty is required to create the ERP order")
    order_lines = list(order.lines.select_related("product", "pack", "warehouse").order_by("position", "pk"))
    held = held_per_line(order_lines)
    lines = []
    warehouse = order.warehouse
    for line in order_lines:
        if not line.product.erp_id:
            raise PermanentError(f"order {order.uuid}: product {line.product.article} has no ERP id")
        warehouse = warehouse or line.warehouse
        lines.append(
            OrderPushLine(
                product_erp_id=line.product.erp_id,
                kind=line.product.kind,
                quantity=line.base_quantity,
                price=line.base_price,
                vat_rate=line.vat_rate,
                # what we hold + what left the store: an ERP's reserve of a row counts what shipped (MoySklad)
                reserve=held.get(line.pk, Decimal("0")) + line.shipped_quantity,
                discount_percent=line.discount_percent,
                pack_erp_id=line.pack.erp_id if line.pack else None,
            )
        )
    return OrderPush(
        key=str(order.uuid),
        counterparty_erp_id=ensure_counterparty(adapter, order.counterparty),
        warehouse_erp_id=warehouse.erp_id if warehouse else None,
        lines=tuple(lines),
        erp_id=order.erp_id,
        comment=order.comment,
        delivery_address=order.delivery_address,
    )
