"""Entry points other parts call without knowing which ERP is configured."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from integration import connectors
from integration.erp.importers import stock
from integration.errors import IntegrationError
from integration.http import timeout_cap
from integration.models import Backend

logger = logging.getLogger(__name__)


def erp_backend() -> Backend | None:
    """The active ERP backend (the first, if several are configured)."""
    return connectors.active_erp()


def reserve_note(order) -> str:
    """What to tell the manager about a reserve the ERP has not confirmed yet: "" when there is none, or when the
    active ERP reserves in the same call that writes the order (the answer then shows its reserve)."""
    backend = erp_backend()
    if backend is None or order.status != order.Status.RESERVE_PENDING:
        return ""
    if connectors.capabilities_for(backend).synchronous_reserve:
        return ""
    if (own_note := connectors.connector_for(backend).reserve_note) is not None:
        return own_note(backend)
    return _("The reserve will be confirmed by %(erp)s.") % {"erp": connectors.label_for(backend)}


def refresh_stock_for(product_ids, *, budget_seconds: float) -> bool:
    """Refresh these products' stock (kits: their components) from the ERP within the budget.

    False when it could not (no ERP, paused, down, too slow): the caller then shows the stock as stale.
    """
    backend = erp_backend()
    ids = [int(pk) for pk in product_ids]
    if backend is None or backend.paused or not ids:
        return False
    if not connectors.capabilities_for(backend).stock_refresh:
        return False
    refresh = connectors.connector_for(backend).refresh_stock or stock.refresh_products
    try:
        with timeout_cap(max(0.1, budget_seconds)):
            refresh(backend, ids)
    except IntegrationError as exc:
        logger.warning("stock refresh of %s products failed: %s", len(ids), exc)
        return False
    return True
