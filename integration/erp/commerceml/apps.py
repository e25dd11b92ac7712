from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommerceMLConfig(AppConfig):
    name = "integration.erp.commerceml"
    label = "commerceml"
    verbose_name = _("1C CommerceML exchange")

    def ready(self) -> None:
        from integration import connectors
        from integration.erp.commerceml.adapter import CmlAdapter, await_exchange, awaiting_exchange_reason
        from integration.models import Backend

        connectors.register(connectors.Connector(
            kind=Backend.Kind.ONEC_CML,
            role=connectors.Role.ERP,
            adapter=CmlAdapter,
            label=_("1C (CommerceML exchange)"),
            # 1C calls us on its own schedule: it uploads the catalog and takes the orders, and reserves an order
            # when it loads it at that exchange (no synchronous reserve); no webhooks, no change feed to poll,
            # no stock on demand, no print forms (the platform renders documents).
            capabilities=connectors.Capabilities(),
            outbox_handlers={"erp.order.upsert": await_exchange, "erp.order.cancel": await_exchange},
            reserve_note=awaiting_exchange_reason,
        ))
