"""Admin page of the 1C bases: the detected configuration, the last connection check, «Check connection»."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from integration.erp.onec.check import check_connection
from integration.erp.onec.models import OneCBase


@admin.register(OneCBase)
class OneCBaseAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url", "configuration", "last_check"]
    fields = ["name", "base_url", "configuration", "last_check"]
    readonly_fields = fields
    actions = ["check_selected"]

    def has_add_permission(self, request):
        return False  # a 1C base is added as a backend (kind «1C (OData)») on the backends page

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("configuration"))
    def configuration(self, obj):
        profile = (obj.settings or {}).get("onec_profile") or {}
        return profile.get("title") or "—"

    @admin.display(description=_("last connection check"))
    def last_check(self, obj):
        check = (obj.settings or {}).get("onec_check")
        if not check:
            return _("not checked yet")
        if check.get("ok"):
            return _("connected: %(profile)s") % {"profile": check.get("profile")}
        if check.get("missing"):
            items = format_html_join("", "<li><code>{}</code></li>", ((name,) for name in check["missing"]))
            return format_html("{}<ul class='onec-missing'>{}</ul>",
                               _("Add to the OData composition of the publication:"), items)
        return check.get("error") or "—"

    @admin.action(description=_("Check connection"), permissions=["change"])
    def check_selected(self, request, queryset):
        for base in queryset:
            result = check_connection(base)
            if result.ok:
                self.message_user(request, _("%(name)s: connected, configuration %(profile)s.")
                                  % {"name": base.name, "profile": result.profile}, messages.SUCCESS)
            elif result.missing:
                self.message_user(request, _("%(name)s: add to the OData composition: %(sets)s")
                                  % {"name": base.name, "sets": ", ".join(result.missing)}, messages.ERROR)
            else:
                self.message_user(request, _("%(name)s: %(error)s") % {"name": base.name, "error": result.error},
                                  messages.ERROR)
