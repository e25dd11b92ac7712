"""Prepare a connected MoySklad account: subscribe every webhook the platform reacts to, idempotently.

Our subscriptions are those whose URL starts with our webhook prefix (`<public URL>/hooks/moysklad/`).
A run creates what is missing, re-enables what was disabled, points subscriptions made with an old secret
(or an old path) at the current URL, and removes our leftovers; a second run changes nothing. A solution
may hold one subscription per (entityType, action) (reference §3.8), so a stale one is updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse

from integration.backends import ensure_webhook_secret
from integration.erp.moysklad.adapter import (
    MoySkladAdapter,
    create_webhook,
    delete_webhook,
    list_webhooks,
    update_webhook,
)
from integration.errors import PermanentError
from integration.models import Backend
from integration.public_url import webhook_base
from integration.secrets import mask_url

# (entityType, action) of entity/webhook: the catalog, the order flow, counterparties.
ENTITY_WEBHOOKS: tuple[tuple[str, str], ...] = (
    *(
        (kind, action)
        for kind in ("product", "service", "bundle")
        for action in ("CREATE", "UPDATE", "DELETE")
    ),
    ("customerorder", "CREATE"),
    ("customerorder", "UPDATE"),
    ("invoiceout", "CREATE"),
    ("invoiceout", "UPDATE"),
    ("demand", "CREATE"),
    ("demand", "UPDATE"),
    ("paymentin", "CREATE"),
    ("paymentin", "UPDATE"),
    ("salesreturn", "CREATE"),
    ("salesreturn", "UPDATE"),
    ("counterparty", "CREATE"),
    ("counterparty", "UPDATE"),
)
# entity/webhookstock: stock changes per warehouse, announced every 1–5 min.
STOCK_REPORT_TYPE = "bystore"


@dataclass(frozen=True)
class Subscription:
    """One subscription as the ERP holds it; `topic` is "product UPDATE" or "stock bystore"."""

    kind: str  # "webhook" / "webhookstock"
    topic: str
    url: str  # masked: the path carries the secret
    enabled: bool
    erp_id: str


@dataclass
class WebhookSetup:
    url: str  # masked
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # re-enabled, or moved to the current URL
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    subscribed: list[Subscription] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def public_base(public_url: str | None = None) -> str:
    return webhook_base(public_url)


def webhook_url(backend: Backend, public_url: str | None = None) -> str:
    return public_base(public_url) + reverse(
        "moysklad:webhook", kwargs={"secret": backend.webhook_secret}
    )


def _prefix(public_url: str | None) -> str:
    return public_base(public_url) + reverse("moysklad:webhook", kwargs={"secret": "x"})[: -len("x/")]


def _topic(kind: str, row: dict) -> str:
    if kind == "webhook":
        return f"{row.get('entityType')} {row.get('action')}"
    return f"stock {row.get('reportType')}"


def _ensure_secret(backend: Backend) -> None:
    ensure_webhook_secret(backend)


def _reconcile(
    adapter: MoySkladAdapter, kind: str, wanted: dict[str, dict], url: str, prefix: str, result: WebhookSetup
) -> None:
    """Make our subscriptions of `kind` exactly `wanted` ({topic: body without url}) at `url`."""
    ours: dict[str, list[dict]] = {}
    for row in list_webhooks(adapter, kind):
        if str(row.get("url") or "").startswith(prefix):
            ours.setdefault(_topic(kind, row), []).append(row)
    for topic, body in wanted.items():
        rows = sorted(ours.pop(topic, []), key=lambda r: r.get("url") != url)  # the current URL first
        keep, extra = (rows[0], rows[1:]) if rows else (None, [])
        if keep is None:
            create_webhook(adapter, kind, {**body, "url": url})
            result.created.append(topic)
        elif keep.get("url") != url or not keep.get("enabled", True):
            update_webhook(adapter, kind, keep["id"], {"url": url, "enabled": True})
            result.updated.append(topic)
        else:
            result.unchanged.append(topic)
        for row in extra:
            delete_webhook(adapter, kind, row["id"])
            result.removed.append(topic)
    for topic, rows in ours.items():  # ours, for something we no longer react to
        for row in rows:
            delete_webhook(adapter, kind, row["id"])
            result.removed.append(topic)


def list_subscriptions(
    backend: Backend, *, public_url: str | None = None, adapter: MoySkladAdapter | None = None
) -> list[Subscription]:
    """Our subscriptions as the ERP holds them now."""
    adapter = adapter or MoySkladAdapter(backend)
    prefix = _prefix(public_url)
    return sorted(
        (
            Subscription(
                kind, _topic(kind, row), mask_url(row["url"]), bool(row.get("enabled", True)), row["id"]
            )
            for kind in ("webhook", "webhookstock")
            for row in list_webhooks(adapter, kind)
            if str(row.get("url") or "").startswith(prefix)
        ),
        key=lambda s: (s.kind, s.topic),
    )


def subscribe_webhooks(
    backend: Backend, *, public_url: str | None = None, adapter: MoySkladAdapter | None = None
) -> WebhookSetup:
    """Subscribe our webhook URL to every entity event and the stock announcements we use. Safe to repeat."""
    if backend.kind != Backend.Kind.MOYSKLAD:
        raise PermanentError(f"backend {backend.name}: not a MoySklad backend ({backend.kind})")
    _ensure_secret(backend)
    adapter = adapter or MoySkladAdapter(backend)
    url, prefix = webhook_url(backend, public_url), _prefix(public_url)
    result = WebhookSetup(url=mask_url(url))
    entity = {f"{t} {a}": {"entityType": t, "action": a, "diffType": "NONE"} for t, a in ENTITY_WEBHOOKS}
    _reconcile(adapter, "webhook", entity, url, prefix, result)
    stock = {f"stock {STOCK_REPORT_TYPE}": {"stockType": "stock", "reportType": STOCK_REPORT_TYPE}}
    _reconcile(adapter, "webhookstock", stock, url, prefix, result)
    result.subscribed = list_subscriptions(backend, public_url=public_url, adapter=adapter)
    return result
