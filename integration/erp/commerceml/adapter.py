"""The 1C (CommerceML) connector's adapter and outbox handlers.

Here 1C is the HTTP client: it uploads its catalog and fetches our orders when its own schedule runs
"Обмен с сайтом" (views.py). So there is nothing to pull or push on our side: every pull method refuses
with a PermanentError that says so, and the order topics only tell the order that 1C takes it (and makes
its reserve) at its next exchange.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from integration.erp.importers.cursors import get_cursor
from integration.errors import PermanentError
from integration.journal import correlate
from integration.models import Backend, OutboxEvent
from orders.models import Order

LAST_EXCHANGE = "onec_cml.last_exchange"


class PushOnly(PermanentError):
    """1C sends this itself at its exchange; it cannot be asked for."""


class CmlAdapter:
    def __init__(self, backend: Backend):
        self.backend = backend

    def _refuse(self, what: str):
        raise PushOnly(f"{what}: 1C (CommerceML) sends it at its own exchange; it cannot be read from here")

    def __getattr__(self, name: str):
        if name.startswith(("iter_", "fetch_", "stock_", "find_", "get_", "create_", "ensure_", "upsert_", "cancel_")):
            return lambda *args, **kwargs: self._refuse(name)
        raise AttributeError(name)


def last_exchange(backend: Backend):
    return get_cursor(backend, LAST_EXCHANGE)


def awaiting_exchange_reason(backend: Backend) -> str:
    when = last_exchange(backend)
    seen = (_("last exchange %(when)s") % {"when": timezone.localtime(when).strftime("%d.%m.%Y %H:%M")}
            if when else _("no exchange yet"))
    return _("1C takes the order and makes its reserve at its next exchange (%(seen)s).") % {"seen": seen}


def await_exchange(event: OutboxEvent) -> dict:
    """erp.order.upsert / erp.order.cancel: nothing to send; the order says when 1C will have it."""
    order = Order.objects.filter(pk=event.payload.get("order_id")).first()
    if order is None:
        raise PermanentError(f"payload.order_id: order {event.payload.get('order_id')} does not exist")
    with correlate(order):
        reason = awaiting_exchange_reason(event.backend)
        if event.topic == "erp.order.upsert" and not order.erp_id:
            Order.objects.filter(pk=order.pk).update(erp_pending_reason=reason[:1000])
    return {"awaiting_exchange": True}
