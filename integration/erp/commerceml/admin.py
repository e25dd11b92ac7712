"""Admin page of the 1C (CommerceML) exchanges: the login and password 1C uses (the password is only ever
stored hashed, and never shown), the tuning of the exchange, and the URL to enter in 1C."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from integration.erp.commerceml.adapter import last_exchange
from integration.erp.commerceml.config import (
    DEFAULT_FILE_LIMIT,
    ENCODINGS,
    configure_exchange,
    exchange_config,
    exchange_path,
)
from integration.erp.commerceml.models import CmlExchange
from integration.public_url import PublicUrlError, webhook_base


class ExchangeForm(forms.ModelForm):
    exchange_login = forms.CharField(label=_("login 1C sends"), max_length=128)
    exchange_password = forms.CharField(
        label=_("new password"), required=False, widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored hashed; leave empty to keep the current one."))
    exchange_file_limit = forms.IntegerField(label=_("part size, bytes"), min_value=64 * 1024, initial=DEFAULT_FILE_LIMIT)
    exchange_zip = forms.BooleanField(label=_("accept zip archives"), required=False, initial=True)
    exchange_encoding = forms.ChoiceField(label=_("encoding of the answers"), choices=[(e, e) for e in ENCODINGS])
    exchange_budget_seconds = forms.FloatField(label=_("seconds one import call may take"), min_value=0, initial=20)

    class Meta:
        model = CmlExchange
        fields = ["name", "base_url", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            config = exchange_config(self.instance)
            self.initial.update(exchange_login=config.login, exchange_file_limit=config.file_limit,
                                exchange_zip=config.zip, exchange_encoding=config.encoding,
                                exchange_budget_seconds=config.budget_seconds)
        self.fields["base_url"].help_text = _("The 1C base's address, for people (1C calls us, not the other way).")

    def clean(self):
        data = super().clean()
        if not self.instance.pk and not data.get("exchange_password"):
            self.add_error("exchange_password", _("A new exchange needs a password."))
        return data


@admin.register(CmlExchange)
class CmlExchangeAdmin(admin.ModelAdmin):
    form = ExchangeForm
    list_display = ["name", "active", "exchange_url", "last_seen"]
    readonly_fields = ["exchange_url", "last_seen"]
    fieldsets = [
        (None, {"fields": ["name", "base_url", "active"]}),
        (_("Exchange with 1C"), {"fields": ["exchange_url", "last_seen", "exchange_login", "exchange_password",
                                            "exchange_file_limit", "exchange_zip", "exchange_encoding",
                                            "exchange_budget_seconds"]}),
    ]

    def save_model(self, request, obj, form, change):
        obj.kind = CmlExchange.Kind.ONEC_CML
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        configure_exchange(obj, login=data["exchange_login"], password=data.get("exchange_password") or None,
                           exchange_file_limit=data["exchange_file_limit"], exchange_zip=data["exchange_zip"],
                           exchange_encoding=data["exchange_encoding"],
                           exchange_budget_seconds=data["exchange_budget_seconds"])

    @admin.display(description=_("URL to enter in 1C"))
    def exchange_url(self, obj):
        if not obj.pk or not exchange_config(obj).secret:
            return _("shown once saved")
        try:
            base = webhook_base()
        except PublicUrlError:
            base = ""
        return format_html("<code>{}{}</code>", base, exchange_path(obj))

    @admin.display(description=_("last exchange"))
    def last_seen(self, obj):
        when = last_exchange(obj) if obj.pk else None
        return when or _("no exchange yet")
