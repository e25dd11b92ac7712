from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    """Alerts: rules over the integration's state, incidents, e-mail and Telegram messages."""

    name = "integration.alerts"
    label = "alerts"
    verbose_name = _("Alerts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .rules import create_default_rules

        post_migrate.connect(create_default_rules, sender=self, dispatch_uid="alerts_default_rules")
