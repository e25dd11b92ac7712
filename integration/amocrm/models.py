"""amoCRM connector state: the shared rate-limit window and staff-visible alerts."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.models import Backend


class RateWindow(models.Model):
    """The last grants of the per-account request budget, shared by every process (updated under a row lock)."""

    backend = models.OneToOneField(Backend, verbose_name=_("backend"), on_delete=models.CASCADE, primary_key=True,
                                   related_name="amocrm_rate_window")
    grants = models.JSONField(_("recent grants"), default=list, blank=True)

    class Meta:
        verbose_name = _("rate-limit window")
        verbose_name_plural = _("rate-limit windows")

    def __str__(self) -> str:
        return f"{self.backend.name}: {len(self.grants)}"


class Alert(models.Model):
    """Something staff must act on: a revoked token, a blocked account, an unpaid subscription."""

    class Level(models.TextChoices):
        ERROR = "error", _("error")
        WARNING = "warning", _("warning")

    backend = models.ForeignKey(Backend, verbose_name=_("backend"), on_delete=models.CASCADE,
                                related_name="amocrm_alerts")
    level = models.CharField(_("level"), max_length=8, choices=Level.choices, default=Level.ERROR)
    code = models.SlugField(_("code"), max_length=64)
    message = models.TextField(_("message"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("amoCRM alert")
        verbose_name_plural = _("amoCRM alerts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.backend.name}: {self.code}"
