"""Alerts in the admin: rules with their thresholds, the channels (with «send a test alert»), and the history
of incidents with every message sent."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integration.secrets import mask_secret

from .incidents import send_test
from .models import AlertSettings, Incident, Notification, Rule
from .rules import BY_KEY, create_default_rules


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "enabled", "threshold", "unit", "remind_minutes"]
    list_editable = ["enabled", "threshold", "remind_minutes"]
    readonly_fields = ["key", "title", "unit"]
    fields = ["key", "title", "enabled", "threshold", "unit", "remind_minutes"]

    def has_add_permission(self, request):
        return False  # the rules are the checks in rules.py; their rows are created with the defaults

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        create_default_rules()
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("rule"))
    def title(self, obj):
        spec = BY_KEY.get(obj.key)
        return spec.title if spec else obj.key

    @admin.display(description=gettext_lazy("threshold unit"))
    def unit(self, obj):
        spec = BY_KEY.get(obj.key)
        return spec.unit if spec else ""


class AlertSettingsForm(forms.ModelForm):
    telegram_token = forms.CharField(
        label=gettext_lazy("Telegram bot token"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Write-only: leave empty to keep the stored token. It is stored encrypted."),
    )
    clear_telegram_token = forms.BooleanField(label=gettext_lazy("forget the stored token"), required=False)

    class Meta:
        model = AlertSettings
        fields = ["email_enabled", "email_recipients", "telegram_enabled", "telegram_chat_id"]

    def clean_email_recipients(self):
        value = self.cleaned_data["email_recipients"]
        for address in [a.strip() for a in value.replace("\n", ",").split(",") if a.strip()]:
            try:
                forms.EmailField().clean(address)
            except forms.ValidationError as exc:
                raise forms.ValidationError(_("Not an e-mail address: %(value)s") % {"value": address}) from exc
        return value

    def clean(self):
        data = super().clean()
        token = data.get("telegram_token") or ("" if data.get("clear_telegram_token") else self.instance.telegram_token)
        if data.get("telegram_enabled") and not (token and data.get("telegram_chat_id")):
            raise forms.ValidationError(_("Telegram needs both a bot token and a chat id."))
        if data.get("email_enabled") and not data.get("email_recipients", "").strip():
            self.add_error("email_recipients", _("Give at least one address, or turn e-mail off."))
        return data

    def save(self, commit=True):
        instance = super().save(commit=False)
        secrets = dict(instance.secrets or {})
        if self.cleaned_data.get("clear_telegram_token"):
            secrets.pop("telegram_token", None)
        if self.cleaned_data.get("telegram_token"):
            secrets["telegram_token"] = self.cleaned_data["telegram_token"]
        instance.secrets = secrets
        if commit:
            instance.save()
        return instance


@admin.register(AlertSettings)
class AlertSettingsAdmin(admin.ModelAdmin):
    form = AlertSettingsForm
    list_display = ["__str__", "email_enabled", "telegram_enabled", "telegram_chat_id", "token_masked"]
    readonly_fields = ["token_masked"]
    fieldsets = [
        (gettext_lazy("E-mail"), {"fields": ["email_enabled", "email_recipients"]}),
        (gettext_lazy("Telegram"), {"fields": ["telegram_enabled", "telegram_chat_id", "token_masked",
                                               "telegram_token", "clear_telegram_token"]}),
    ]
    change_form_template = "admin/alerts/alertsettings/change_form.html"

    @admin.display(description=gettext_lazy("stored bot token"))
    def token_masked(self, obj):
        return mask_secret(obj.telegram_token) if obj and obj.telegram_token else "—"

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not AlertSettings.objects.exists()  # one row

    def get_urls(self):
        return [
            path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="alerts_alertsettings_test"),
            *super().get_urls(),
        ]

    def test_view(self, request, pk: int):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        deliveries = send_test(AlertSettings.objects.get(pk=pk))
        if not deliveries:
            messages.warning(request, _("No channel is enabled and configured: nothing was sent."))
        for delivery in deliveries:
            if delivery.ok:
                messages.success(request, _("Test alert sent: %(channel)s.") % {"channel": delivery.channel})
            else:
                messages.error(request, _("Test alert failed: %(channel)s: %(error)s")
                               % {"channel": delivery.channel, "error": delivery.error})
        return redirect(reverse("admin:alerts_alertsettings_change", args=[pk]))


class NotificationInline(admin.TabularInline):
    model = Notification
    extra = 0
    can_delete = False
    fields = ["sent_at", "kind", "channel", "ok", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["opened_at", "rule", "subject", "level", "status", "message", "reminders", "resolved_at"]
    list_filter = ["status", "rule", "level"]
    search_fields = ["subject", "message"]
    date_hierarchy = "opened_at"
    ordering = ["-opened_at"]
    readonly_fields = ["rule", "subject", "level", "message", "status", "opened_at", "last_seen_at",
                       "last_notified_at", "reminders", "resolved_at"]
    inlines = [NotificationInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["sent_at", "kind", "channel", "ok", "incident"]
    list_filter = ["kind", "channel", "ok"]
    search_fields = ["text"]
    readonly_fields = ["incident", "kind", "channel", "text", "sent_at", "ok", "error"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
