"""Entry points other parts call without knowing which ERP is configured."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.models import Product
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


# A request older than this that no refresh has cleared is taken as lost (a task that died): asked again.
REQUEST_RETRY_SECONDS = 30.0
REFRESH_BATCH = 500


def queue_stock_refresh(product_ids) -> bool:
    """Ask for these products' stock off the request path: Product.stock_refresh_requested_at marks each product
    once, whoever asks (8 readers of one stale page queue one refresh), and a task is queued only for products
    not already waiting. True when a refresh is queued or already under way; False when no ERP can refresh."""
    ids = sorted({int(pk) for pk in product_ids})
    backend = erp_backend()
    if not ids or backend is None or backend.paused or not connectors.capabilities_for(backend).stock_refresh:
        return False
    now = timezone.now()
    newly = Product.objects.filter(pk__in=ids).filter(
        Q(stock_refresh_requested_at__isnull=True)
        | Q(stock_refresh_requested_at__lt=now - timedelta(seconds=REQUEST_RETRY_SECONDS))
    ).update(stock_refresh_requested_at=now)
    if newly:
        async_task("integration.erp.services.refresh_requested_stock", task_name="stock refresh (widget)")
    return True


def refresh_requested_stock(max_seconds: float | None = None) -> int:
    """The queued refresh: take every waiting request (of a few tasks queued close together the first takes them
    all, the others find none), refresh those products from the ERP, clear the requests it answered. Returns how
    many products were refreshed."""
    budget = max_seconds if max_seconds is not None else float(settings.Q_CLUSTER.get("timeout", 60)) * 0.5
    deadline = time.monotonic() + budget
    done = 0
    seen: set[int] = set()
    while time.monotonic() < deadline:
        read_at = timezone.now()
        ids = list(
            Product.objects.filter(stock_refresh_requested_at__isnull=False).exclude(pk__in=seen)
            .order_by("stock_refresh_requested_at").values_list("pk", flat=True)[:REFRESH_BATCH]
        )
        if not ids:
            break
        seen.update(ids)
        if not refresh_stock_for(ids, budget_seconds=max(1.0, deadline - time.monotonic())):
            break  # logged; the requests stay and are asked again after REQUEST_RETRY_SECONDS
        # A request renewed after we read them (a lost one asked again) stays for the next task.
        Product.objects.filter(pk__in=ids, stock_refresh_requested_at__lte=read_at).update(
            stock_refresh_requested_at=None
        )
        done += len(ids)
    return done
