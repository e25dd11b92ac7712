"""The registry of connectors: the one place that knows which backend kinds exist, which are ERPs and which
CRMs, and what serves each (the adapter, its capabilities, its outbox handlers, syncs, schedules, webhooks).

A connector registers itself from its AppConfig.ready() (MoySklad: integration/erp/moysklad/apps.py). The
platform and the domain apps ask here — `active_erp()`, `erp_kinds()`, `capabilities_for(backend)` — and
never test a kind themselves; a kind nobody registered is refused with UnknownConnector.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.urls import URLPattern, URLResolver, include, path

from . import outbox
from .errors import PermanentError
from .models import Backend, OutboxEvent
from .schedules import ScheduleSpec

logger = logging.getLogger(__name__)


class Role(StrEnum):
    ERP = "erp"  # masters the catalog, prices, stock, counterparties; takes orders and issues documents
    CRM = "crm"  # deals, contacts, companies (amoCRM)


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do; the platform and the widget read these instead of checking the kind."""

    synchronous_reserve: bool = False  # writing the order reserves its goods in the same call
    print_forms: bool = False  # the ERP renders document PDFs (otherwise we render them)
    webhooks: bool = False  # the ERP pushes changes (otherwise only polling by schedule)
    incremental_cursor: bool = False  # lists take `since` (otherwise every sync reads everything)
    stock_refresh: bool = False  # stock of a few products on demand (the widget's fresh stock)
    one_warehouse_per_order: bool = False  # an order ships (and is reserved) from one warehouse, not per line


@dataclass(frozen=True)
class Connector:
    kind: str  # the Backend.kind it serves
    role: Role
    adapter: Callable[[Backend], Any]  # backend -> adapter (integration/erp/protocol.py for an ERP)
    capabilities: Capabilities = Capabilities()
    # When they depend on the base (e.g. a 1C configuration without reserves): backend -> its capabilities.
    backend_capabilities: Callable[[Backend], Capabilities] | None = None
    label: str = ""  # how people call it ("1C", translatable); default: the backend kind's label
    # topic -> handler(event): the deliverer of this kind's outbox events (erp.order.upsert, ...)
    outbox_handlers: Mapping[str, outbox.Handler] = field(default_factory=dict)
    # Imports what registers this connector's syncs (integration.syncs) and inbox handlers; run on register.
    install: Callable[[], None] | None = None
    schedules: tuple[ScheduleSpec, ...] = ()  # extra django-q schedules (setup_schedules creates them)
    webhook_urls: str = ""  # URL module mounted at hooks/<kind>/
    subscribe_webhooks: Callable[[Backend], Any] | None = None
    # (backend, product ids): this connector's own on-demand stock refresh (default: the stock importer's)
    refresh_stock: Callable[[Backend, list[int]], Any] | None = None
    comparers: tuple[Callable[..., Any], ...] = ()  # reconciliation: fn(backend, *, repair, progress)
    # backend -> what the widget says of a reserve this ERP confirms later (default: "confirmed by <label>")
    reserve_note: Callable[[Backend], str] | None = None


class UnknownConnector(PermanentError):
    """No connector is registered for this backend kind (or it does not serve that role or topic)."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(detail or f"no connector is registered for backend kind {kind!r}")
        self.kind = kind


_registry: dict[str, Connector] = {}
_dispatchers: dict[str, outbox.Handler] = {}


def register(connector: Connector) -> Connector:
    """Register (or replace) the connector of `connector.kind` and install its handlers."""
    if connector.install is not None:
        connector.install()
    _registry[connector.kind] = connector
    for topic in connector.outbox_handlers:
        outbox.handler(topic)(_dispatcher(topic))
    return connector


def unregister(kind: str) -> None:
    """Forget a kind (a test's connector); its outbox events are then refused with UnknownConnector."""
    _registry.pop(kind, None)


def _dispatcher(topic: str) -> outbox.Handler:
    """One outbox handler per topic, delivering each event with the handler of its backend's connector."""
    if topic not in _dispatchers:

        def deliver(event: OutboxEvent):
            handler = connector_for(event.backend).outbox_handlers.get(topic)
            if handler is None:
                raise UnknownConnector(event.backend.kind, f"topic {topic}: backend kind {event.backend.kind!r} "
                                                          f"({event.backend.name}) has no handler for it")
            return handler(event)

        deliver.__qualname__ = f"deliver[{topic}]"
        _dispatchers[topic] = deliver
    return _dispatchers[topic]


def connector(kind: str) -> Connector:
    try:
        return _registry[kind]
    except KeyError:
        raise UnknownConnector(kind) from None


def connector_for(backend: Backend) -> Connector:
    return connector(backend.kind)


def connectors(role: Role | None = None) -> list[Connector]:
    return [c for c in _registry.values() if role is None or c.role == role]


def kinds(role: Role | None = None) -> tuple[str, ...]:
    return tuple(c.kind for c in connectors(role))


def erp_kinds() -> tuple[str, ...]:
    return kinds(Role.ERP)


def crm_kinds() -> tuple[str, ...]:
    return kinds(Role.CRM)


def active_backend(role: Role) -> Backend | None:
    """The active backend of that role (the first, if several are configured)."""
    return Backend.objects.filter(kind__in=kinds(role), active=True).order_by("pk").first()


def active_erp() -> Backend | None:
    return active_backend(Role.ERP)


def active_crm() -> Backend | None:
    return active_backend(Role.CRM)


def adapter_for(backend: Backend, *, role: Role | None = None):
    """The backend's adapter; UnknownConnector for a kind nobody registered (or of another role)."""
    found = connector_for(backend)
    if role is not None and found.role != role:
        raise UnknownConnector(backend.kind, f"backend kind {backend.kind!r} is a {found.role}, not a {role}")
    return found.adapter(backend)


def capabilities_for(backend: Backend) -> Capabilities:
    found = connector_for(backend)
    return found.backend_capabilities(backend) if found.backend_capabilities else found.capabilities


def label_for(backend: Backend) -> str:
    return str(connector_for(backend).label or backend.get_kind_display())


def webhook_urlpatterns() -> list[URLPattern | URLResolver]:
    """hooks/<kind>/ for every connector with a webhook URL module (config/urls.py mounts these)."""
    return [path(f"hooks/{c.kind}/", include(c.webhook_urls)) for c in _registry.values() if c.webhook_urls]


def schedule_specs() -> list[ScheduleSpec]:
    return [spec for c in _registry.values() for spec in c.schedules]
