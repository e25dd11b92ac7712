from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MoySkladConfig(AppConfig):
    name = "integration.erp.moysklad"
    label = "moysklad"
    verbose_name = _("MoySklad connector")

    def ready(self) -> None:
        # Registers the syncs, the outbox handlers and the inbox (webhook) handler.
        from integration.erp.moysklad import (  # noqa: F401
            catalog_sync,
            counterparty_sync,
            erp_changes,
            handlers,
            order_sync,
            organization_sync,
            stock_sync,
            webhooks,
        )
