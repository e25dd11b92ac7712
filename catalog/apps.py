from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalog")

    def ready(self) -> None:
        from catalog.sqlite_search import install_unicode_like

        connection_created.connect(install_unicode_like, dispatch_uid="catalog.unicode_like")
