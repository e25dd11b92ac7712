from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AmocrmConfig(AppConfig):
    name = "integration.amocrm"
    label = "amocrm"
    verbose_name = _("amoCRM")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integration.amocrm import catalog_push, handlers  # noqa: F401 - register the sync, outbox and inbox handlers
