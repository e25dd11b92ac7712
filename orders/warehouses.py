"""Which warehouse an order line ships from. The rule, in this order (the admin shows RULE_TEXT):

1. the warehouse chosen for the line (the widget, the admin);
2. the warehouse the same product had in the order before (lines keep their warehouse when the cart changes,
   e.g. when the manager changes a quantity in the amoCRM deal);
3. the order's warehouse (set_cart gives the order the warehouse of its first line);
4. the counterparty's warehouse;
5. the ERP backend's default warehouse: `default_warehouse` in the backend's settings, the warehouse's ERP id;
6. otherwise the active warehouse with the most available stock of the product — so one with enough for the
   line whenever any has enough; a tie goes to the warehouse first by name.
Services need no stock: they take steps 1–5, or no warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from catalog.models import Warehouse
from integration import connectors
from orders.availability import sellable_availability
from orders.models import Order, WarehouseRule

RULE_TEXT = _(
    "A line without a warehouse takes: the warehouse its product had in the order before; else the order's "
    "warehouse; else the counterparty's; else the ERP backend's default (setting «default_warehouse», the "
    "warehouse's ERP id); else the active warehouse with the most available stock of the product (enough for the "
    "line whenever any warehouse has enough; a tie goes to the first by name). The order takes the warehouse of "
    "its first line."
)


@dataclass(frozen=True)
class WarehouseChoice:
    warehouse_id: int | None
    rule: str  # a WarehouseRule value, "" when nothing chose one


NONE = WarehouseChoice(None, "")


def backend_default_warehouse_id() -> int | None:
    """The active warehouse named by the first active ERP backend's settings["default_warehouse"] (an ERP id)."""
    backend = connectors.active_erp()
    erp_id = backend.settings.get("default_warehouse") if backend else None
    if not erp_id:
        return None
    return Warehouse.objects.filter(erp_id=str(erp_id), active=True).values_list("pk", flat=True).first()


def one_warehouse_per_order() -> bool:
    """Whether the active ERP ships and reserves an order from one warehouse (MoySklad: one `store` per order)."""
    backend = connectors.active_erp()
    return backend is not None and connectors.capabilities_for(backend).one_warehouse_per_order


def order_default(order: Order) -> WarehouseChoice:
    """Steps 3–5 of the rule: the order's, the counterparty's, the backend's default warehouse."""
    if order.warehouse_id:
        return WarehouseChoice(order.warehouse_id, WarehouseRule.ORDER)
    counterparty = order.counterparty
    if counterparty is not None and counterparty.warehouse_id:
        if Warehouse.objects.filter(pk=counterparty.warehouse_id, active=True).exists():
            return WarehouseChoice(counterparty.warehouse_id, WarehouseRule.COUNTERPARTY)
    backend_default = backend_default_warehouse_id()
    if backend_default is not None:
        return WarehouseChoice(backend_default, WarehouseRule.BACKEND)
    return NONE


def by_stock(product_ids: Iterable[int]) -> dict[int, WarehouseChoice]:
    """Step 6: per product, the active warehouse with the most available stock (a tie: first by name)."""
    product_ids = list(dict.fromkeys(product_ids))
    warehouses = list(Warehouse.objects.filter(active=True).order_by("name", "pk").values_list("pk", flat=True))
    if not product_ids or not warehouses:
        return {}
    stock = sellable_availability(product_ids, warehouse_ids=warehouses)
    choices = {}
    for pid in product_ids:
        figures = stock[pid].by_warehouse if pid in stock else {}
        # max() keeps the first of equals, and `warehouses` is in name order.
        best = max(warehouses, key=lambda wid: figures[wid].available if wid in figures else float("-inf"))
        choices[pid] = WarehouseChoice(best, WarehouseRule.STOCK)
    return choices
