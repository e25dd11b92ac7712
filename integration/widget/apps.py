from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WidgetConfig(AppConfig):
    name = "integration.widget"
    label = "widget"
    verbose_name = _("amoCRM widget API")

    def ready(self):
        from corsheaders.signals import check_request_enabled

        from integration.widget.cors import allow_amocrm_account_origin

        check_request_enabled.connect(allow_amocrm_account_origin, dispatch_uid="widget-cors")
