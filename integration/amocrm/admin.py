from datetime import datetime
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integration.amocrm.client import AmoCrmClient
from integration.amocrm.errors import OAuthRejected
from integration.amocrm.forms import CatalogScopeForm, ConnectAccountForm, StageMappingForm
from integration.amocrm.models import Alert
from integration.amocrm.tokens import current_tokens, exchange_code, set_long_lived_token
from integration.amocrm.views import oauth_state
from integration.errors import IntegrationError
from integration.models import Backend
from integration.secrets import mask_secret

AUTHORIZE_URL = "https://www.amocrm.ru/oauth"


def save_settings(backend: Backend, values: dict, user) -> None:
    """Merge `values` into the backend's settings (None removes a key), on the locked row, with history."""
    with transaction.atomic():
        locked = Backend.objects.select_for_update().get(pk=backend.pk)
        for key, value in values.items():
            if value is None:
                locked.settings.pop(key, None)
            else:
                locked.settings[key] = value
        locked._history_user = user
        locked.save(update_fields=["settings", "updated_at"])


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "backend", "level", "code", "message", "resolved_at"]
    list_filter = ["level", "code", "backend", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "code", "backend__name"]
    readonly_fields = ["backend", "level", "code", "message", "created_at", "resolved_at"]
    actions = ["mark_resolved"]
    change_list_template = "admin/amocrm/alert_changelist.html"

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Mark as resolved"), permissions=["change"])
    def mark_resolved(self, request, queryset):
        count = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(request, _("%(count)d alerts resolved.") % {"count": count})

    def get_urls(self):
        return [path("connect/", self.admin_site.admin_view(self.connect_view), name="amocrm_alert_connect"),
                path("settings/<int:backend_id>/", self.admin_site.admin_view(self.settings_view),
                     name="amocrm_backend_settings"),
                *super().get_urls()]

    def settings_view(self, request, backend_id: int):
        """Stage mapping (stages read from amoCRM) and catalog scope of one amoCRM backend."""
        if not request.user.has_perm("integration.change_backend"):
            raise PermissionDenied
        backend = get_object_or_404(Backend, pk=backend_id, kind=Backend.Kind.AMOCRM)
        try:
            pipelines, unreachable = AmoCrmClient(backend, read_retries=0).pipelines(), ""
        except IntegrationError as exc:
            pipelines, unreachable = None, f"{type(exc).__name__}: {exc}"
        posted = request.POST if request.method == "POST" else None
        stages = StageMappingForm(posted if posted and "save_stages" in posted else None, pipelines=pipelines,
                                  settings=backend.settings, prefix="stages")
        scope = CatalogScopeForm(posted if posted and "save_scope" in posted else None, settings=backend.settings,
                                 prefix="scope")
        if posted and "save_stages" in posted:
            if pipelines is None:
                messages.error(request, _("amoCRM did not answer, so the stage mapping was not changed: %(error)s")
                               % {"error": unreachable})
            elif stages.is_valid():
                pipeline_id = stages.cleaned_data.get("pipeline_id")
                save_settings(backend, {"stage_mapping": stages.stage_mapping(),
                                        "pipeline_id": int(pipeline_id) if pipeline_id else None}, request.user)
                messages.success(request, _("The stage mapping is saved."))
                return redirect("admin:amocrm_backend_settings", backend_id=backend.pk)
        if posted and "save_scope" in posted and scope.is_valid():
            save_settings(backend, scope.catalog_settings(), request.user)
            messages.success(request, _("The catalog scope is saved; the next catalog push follows it."))
            return redirect("admin:amocrm_backend_settings", backend_id=backend.pk)
        context = {**self.admin_site.each_context(request), "opts": Backend._meta, "backend": backend,
                   "title": _("amoCRM settings of %(name)s") % {"name": backend.name},
                   "stages": stages, "scope": scope, "unreachable": unreachable,
                   "stage_errors": posted is not None and "save_stages" in posted}
        return TemplateResponse(request, "admin/amocrm/settings.html", context)

    def connect_view(self, request):
        """Connect an amoCRM account: authorize in amoCRM, paste a code, or store a long-lived token."""
        if not request.user.has_perm("integration.change_backend"):
            raise PermissionDenied
        form = ConnectAccountForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            backend = form.cleaned_data["backend"]
            try:
                if form.cleaned_data["code"]:
                    exchange_code(backend, form.cleaned_data["code"])
                else:
                    set_long_lived_token(backend, form.cleaned_data["long_lived_token"])
            except OAuthRejected as exc:
                form.add_error("code", _("amoCRM refused the code: %(hint)s") % {"hint": exc.hint})
            else:
                messages.success(request, _("The amoCRM account is connected to %(name)s.") % {"name": backend.name})
                return redirect("admin:amocrm_alert_connect")
        rows = []
        for backend in Backend.objects.filter(kind=Backend.Kind.AMOCRM).order_by("name"):
            creds = backend.credentials
            query = urlencode({"client_id": creds.get("client_id", ""), "state": oauth_state(backend),
                               "mode": "post_message"})
            try:
                tokens = current_tokens(backend)
                token = mask_secret(tokens.access_token)
                expires = None if tokens.long_lived else datetime.fromtimestamp(
                    tokens.expires_at, tz=timezone.get_current_timezone())
            except Exception:  # noqa: BLE001 - not connected yet
                token, expires = "", None
            rows.append({"backend": backend, "token": token, "expires": expires,
                         "long_lived": bool(creds.get("long_lived")),
                         "authorize_url": f"{backend.settings.get('oauth_url', AUTHORIZE_URL)}?{query}"})
        context = {**self.admin_site.each_context(request), "title": _("Connect an amoCRM account"),
                   "form": form, "rows": rows, "opts": self.model._meta}
        return TemplateResponse(request, "admin/amocrm/connect.html", context)
