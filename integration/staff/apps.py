from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    """The staff layer of the admin: groups and rights, dashboard, order timeline, kill switch, runbook."""

    name = "integration.staff"
    label = "staff"
    verbose_name = _("Integration staff")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from integration.staff.groups import refresh_groups_after_migrate

        admin.site.site_header = _("amoerp: amoCRM ↔ ERP integration")
        admin.site.site_title = _("amoerp")
        admin.site.index_title = _("Integration dashboard")
        post_migrate.connect(refresh_groups_after_migrate, sender=self, dispatch_uid="staff_refresh_groups")
