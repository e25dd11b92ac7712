from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.translation import gettext_lazy as _


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = _("Integration")

    def ready(self):
        checks.register(development_key_check)


def development_key_check(app_configs, **kwargs):
    if not getattr(settings, "AMOERP_DEVELOPMENT_ENCRYPTION_KEY", False):
        return []
    return [checks.Warning(
        "AMOERP_ENCRYPTION_KEYS is not set: backend secrets are encrypted with a DEVELOPMENT key derived from "
        "SECRET_KEY. Fine for the demo and tests, never for real data.",
        hint="Set AMOERP_ENCRYPTION_KEYS (see the README) before connecting a real account.",
        id="amoerp.W001",
    )]
