from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OneCConfig(AppConfig):
    name = "integration.erp.onec"
    label = "onec"
    verbose_name = _("1C connector")

    def ready(self) -> None:
        from integration import connectors
        from integration.erp import order_handlers
        from integration.erp.onec import handlers
        from integration.erp.onec.adapter import OneCAdapter
        from integration.models import Backend

        connectors.register(connectors.Connector(
            kind=Backend.Kind.ONEC_ODATA,
            role=connectors.Role.ERP,
            adapter=OneCAdapter,
            # Posting the order makes its reserve in the same call; no print forms, no webhooks and no change
            # feed in standard OData (the platform renders documents and polls by schedule).
            capabilities=connectors.Capabilities(synchronous_reserve=True, stock_refresh=True),
            outbox_handlers={
                "erp.order.upsert": order_handlers.upsert_order,
                "erp.order.cancel": order_handlers.cancel_order,
                "erp.document.request": handlers.request_document,
            },
            install=_install,
            refresh_stock=_refresh_stock,
        ))


def _install() -> None:
    from integration.erp.importers.registration import register_syncs
    from integration.models import Backend

    # catalog, warehouses, prices, stock, counterparties, orders (polled: no webhooks in standard OData), organization
    register_syncs(Backend.Kind.ONEC_ODATA)


def _refresh_stock(backend, product_ids: list[int]):
    from integration.erp.importers.stock import refresh_products

    return refresh_products(backend, product_ids)
