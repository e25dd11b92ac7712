"""ERP → platform returns, for any ERP adapter: goods back from the client (MoySklad `salesreturn`, 1C
«Возврат товаров от клиента») registered on our order by quantity, with the return document made at once."""

from __future__ import annotations

import logging

from django.db import transaction

from documents.errors import MissingRequisites
from orders.models import Order, Shipment
from orders.types import Actor, ShipmentInput

logger = logging.getLogger(__name__)
ERP = Actor(source="erp")


def apply_return(order: Order, data: ShipmentInput) -> Shipment:
    """Register the return movement (once per ERP id) and its return document, attached to the deal, in one
    transaction. Without our requisites the document is kept as failed (with the reason) and the return still
    counts: goods that came back are a fact whether or not we can print it."""
    from documents.actions import request_return_document
    from orders.actions import register_return

    with transaction.atomic():
        movement = register_return(order, data)
        try:
            request_return_document(movement, actor=ERP)
        except MissingRequisites as exc:
            logger.warning("return %s of order %s: no document: %s", movement.pk, order.pk, exc)
    return movement
