from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalog")

    def ready(self) -> None:
        from django.db.models import Field, ForeignObject

        from catalog.lookups import AnyOf
        from catalog.sqlite_search import install_unicode_like

        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)  # related fields keep lookups of their own
        connection_created.connect(install_unicode_like, dispatch_uid="catalog.unicode_like")
