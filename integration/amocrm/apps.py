from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AmocrmConfig(AppConfig):
    name = "integration.amocrm"
    label = "amocrm"
    verbose_name = _("amoCRM")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integration import connectors
        from integration.amocrm import catalog_push, handlers  # noqa: F401 - register the sync and the inbox handler
        from integration.amocrm.client import AmoCrmClient
        from integration.models import Backend
        from integration.reconciliation.crm import compare_crm

        connectors.register(connectors.Connector(
            kind=Backend.Kind.AMOCRM,
            role=connectors.Role.CRM,
            adapter=AmoCrmClient,
            capabilities=connectors.Capabilities(webhooks=True, incremental_cursor=True),
            outbox_handlers={
                "crm.lead.sync": handlers.deliver_lead_sync,
                "crm.lead.products": handlers.deliver_lead_products,
                "crm.document.attach": handlers.deliver_document,
            },
            webhook_urls="integration.amocrm.urls",
            comparers=(compare_crm,),
        ))
