from django import forms
from django.utils.translation import gettext_lazy as _


class PauseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Shown on the dashboard and kept in the backend's history."),
    )


class DryRunForm(forms.Form):
    kind = forms.ChoiceField(label=_("Sync"))
    full = forms.BooleanField(label=_("Full (ignore the cursors)"), required=False, initial=True)

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, kind) for kind in kinds]
