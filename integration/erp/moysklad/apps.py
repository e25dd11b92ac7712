from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MoySkladConfig(AppConfig):
    name = "integration.erp.moysklad"
    label = "moysklad"
    verbose_name = _("MoySklad connector")

    def ready(self) -> None:
        from integration import connectors
        from integration.erp import order_handlers
        from integration.erp.moysklad import handlers, setup
        from integration.erp.moysklad.adapter import MoySkladAdapter
        from integration.models import Backend
        from integration.reconciliation.erp import compare_erp

        connectors.register(connectors.Connector(
            kind=Backend.Kind.MOYSKLAD,
            role=connectors.Role.ERP,
            adapter=MoySkladAdapter,
            capabilities=connectors.Capabilities(
                synchronous_reserve=True, print_forms=True, webhooks=True, incremental_cursor=True,
                stock_refresh=True, one_warehouse_per_order=True,  # a customerorder has one `store`
            ),
            outbox_handlers={
                "erp.order.upsert": order_handlers.upsert_order,
                "erp.order.cancel": order_handlers.cancel_order,
                "erp.document.request": handlers.request_document,
            },
            install=_install,
            webhook_urls="integration.erp.moysklad.urls",
            subscribe_webhooks=setup.subscribe_webhooks,
            refresh_stock=_refresh_stock,
            comparers=(compare_erp,),
        ))


def _install() -> None:
    from integration.erp.importers.registration import register_syncs
    from integration.erp.moysklad import erp_changes, webhooks  # noqa: F401 - its own sync, the inbox
    from integration.models import Backend

    register_syncs(Backend.Kind.MOYSKLAD)


def _refresh_stock(backend, product_ids: list[int]):
    from integration.erp.moysklad.stock_sync import refresh_products

    return refresh_products(backend, product_ids)
