from django import forms
from django.utils.translation import gettext_lazy as _

from integration.models import Backend


class ConnectAccountForm(forms.Form):
    backend = forms.ModelChoiceField(label=_("amoCRM backend"),
                                     queryset=Backend.objects.filter(kind=Backend.Kind.AMOCRM).order_by("name"))
    code = forms.CharField(label=_("Authorization code"), required=False, strip=True,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("The `code` amoCRM passed to the redirect URI (valid for 20 minutes)."))
    long_lived_token = forms.CharField(label=_("Long-lived token"), required=False, strip=True,
                                       widget=forms.Textarea(attrs={"rows": 3}),
                                       help_text=_("For a private integration: the token from its “Keys” tab."))

    def clean(self):
        data = super().clean()
        if bool(data.get("code")) == bool(data.get("long_lived_token")):
            raise forms.ValidationError(_("Give either an authorization code or a long-lived token."))
        return data
