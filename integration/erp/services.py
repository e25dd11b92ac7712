"""Entry points other parts call without knowing which ERP is configured."""

from __future__ import annotations

import logging

from integration import connectors
from integration.errors import IntegrationError
from integration.http import timeout_cap
from integration.models import Backend

logger = logging.getLogger(__name__)


def erp_backend() -> Backend | None:
    """The active ERP backend (the first, if several are configured)."""
    return connectors.active_erp()


def refresh_stock_for(product_ids, *, budget_seconds: float) -> bool:
    """Refresh these products' stock (kits: their components) from the ERP within the budget.

    False when it could not (no ERP, paused, down, too slow): the caller then shows the stock as stale.
    """
    backend = erp_backend()
    ids = [int(pk) for pk in product_ids]
    if backend is None or backend.paused or not ids:
        return False
    refresh = connectors.connector_for(backend).refresh_stock
    if refresh is None:
        return False
    try:
        with timeout_cap(max(0.1, budget_seconds)):
            refresh(backend, ids)
    except IntegrationError as exc:
        logger.warning("stock refresh of %s products failed: %s", len(ids), exc)
        return False
    return True
