from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OneCConfig(AppConfig):
    name = "integration.erp.onec"
    label = "onec"
    verbose_name = _("1C connector")

    def ready(self) -> None:
        from integration import connectors
        from integration.erp.onec import handlers
        from integration.erp.onec.adapter import OneCAdapter
        from integration.models import Backend

        connectors.register(connectors.Connector(
            kind=Backend.Kind.ONEC_ODATA,
            role=connectors.Role.ERP,
            adapter=OneCAdapter,
            # Posting the order makes its reserve in the same call; no print forms, no webhooks and no change
            # feed in standard OData (the platform renders documents and polls by schedule).
            capabilities=connectors.Capabilities(synchronous_reserve=True),
            outbox_handlers={
                "erp.order.upsert": handlers.upsert_order,
                "erp.order.cancel": handlers.cancel_order,
                "erp.document.request": handlers.request_document,
            },
            install=_install,
        ))


def _install() -> None:
    from integration.erp.onec import order_sync, organization_sync  # noqa: F401 - register the syncs
