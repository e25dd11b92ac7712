"""Entry points other parts call without knowing which ERP is configured."""

from __future__ import annotations

import logging

from integration.errors import IntegrationError
from integration.http import timeout_cap
from integration.models import Backend

logger = logging.getLogger(__name__)
ERP_KINDS = (Backend.Kind.MOYSKLAD,)


def erp_backend() -> Backend | None:
    """The active ERP backend (the first, if several are configured)."""
    return Backend.objects.filter(kind__in=ERP_KINDS, active=True).order_by("pk").first()


def refresh_stock_for(product_ids, *, budget_seconds: float) -> bool:
    """Refresh these products' stock (kits: their components) from the ERP within the budget.

    False when it could not (no ERP, paused, down, too slow): the caller then shows the stock as stale.
    """
    backend = erp_backend()
    ids = [int(pk) for pk in product_ids]
    if backend is None or backend.paused or not ids:
        return False
    from integration.erp.moysklad.stock_sync import refresh_products

    try:
        with timeout_cap(max(0.1, budget_seconds)):
            refresh_products(backend, ids)
    except IntegrationError as exc:
        logger.warning("stock refresh of %s products failed: %s", len(ids), exc)
        return False
    return True
