"""Typed errors of the orders domain; each carries the data a caller needs to explain it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _


class OrderError(Exception):
    """Base of the orders errors; `field` names the input the error is about, when there is one."""

    field: str | None = None

    def __init__(self, message, *, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        if field is not None:
            self.field = field


@dataclass(frozen=True)
class Shortage:
    index: int  # position of the line in the cart
    product_id: int
    warehouse_id: int | None
    batch_id: int | None
    requested: Decimal  # base units of the line's product (kits: whole kits)
    available: Decimal  # what is still available for this line, in the same units
    reason: str  # "insufficient stock" | "batch unavailable"

    REASON_STOCK = "insufficient stock"
    REASON_BATCH = "batch unavailable"

    def as_json(self) -> dict:
        data = asdict(self)
        data["requested"] = str(self.requested)
        data["available"] = str(self.available)
        return data


class InsufficientStock(OrderError):
    def __init__(self, shortages: list[Shortage]):
        self.shortages = shortages
        super().__init__(_("Not enough stock for %(count)d line(s).") % {"count": len(shortages)}, field="lines")


class BatchUnavailable(OrderError):
    """The requested batch does not belong to the product or the product is not batch-tracked."""


class OrderClosed(OrderError):
    def __init__(self, order):
        self.order = order
        super().__init__(
            _("Order %(order)s is %(status)s and can no longer be changed.")
            % {"order": order, "status": order.get_status_display()}
        )


class ApprovalRequired(OrderError):
    """The action needs an approved shortage first."""


class NotAllowed(OrderError):
    """The actor lacks the right for this action, or the order is not in a state that permits it."""


class InvalidInput(OrderError):
    """An input value is wrong; `field` names it (e.g. ``lines[2].pack``, ``reason``)."""


class InvalidCart(InvalidInput):
    """A cart line is wrong: unknown product, pack of another product, no warehouse, no price …"""
