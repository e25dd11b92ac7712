"""The jti replay cache of widget tokens: a token is accepted once, until it expires."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class UsedToken(models.Model):
    jti = models.CharField(_("token id (jti)"), max_length=128, unique=True)
    account_id = models.BigIntegerField(_("amoCRM account id"))
    user_id = models.BigIntegerField(_("amoCRM user id"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    used_at = models.DateTimeField(_("used at"), auto_now_add=True)

    class Meta:
        verbose_name = _("used widget token")
        verbose_name_plural = _("used widget tokens")

    def __str__(self) -> str:
        return self.jti


class WidgetLead(models.Model):
    """A deal the widget was called for: it exists in the backend's amoCRM account (asked once, then this row
    answers), and its company or contact resolved to `counterparty` — the client's prices before any order."""

    backend = models.ForeignKey("integration.Backend", verbose_name=_("backend"), on_delete=models.CASCADE)
    lead_id = models.BigIntegerField(_("amoCRM lead id"))
    counterparty = models.ForeignKey("counterparties.Counterparty", verbose_name=_("counterparty"), null=True,
                                     blank=True, on_delete=models.SET_NULL, related_name="+")
    party = models.CharField(_("amoCRM company or contact"), max_length=64, blank=True)
    problems = models.TextField(_("why no counterparty"), blank=True)
    checked_at = models.DateTimeField(_("checked in amoCRM at"))

    class Meta:
        verbose_name = _("deal checked by the widget")
        verbose_name_plural = _("deals checked by the widget")
        constraints = [models.UniqueConstraint(fields=["backend", "lead_id"], name="widget_lead_unique")]

    def __str__(self) -> str:
        return str(self.lead_id)


class ThrottleWindow(models.Model):
    """The shared rate limiter's count (integration.throttling): requests of one (scope, caller) in the current
    fixed window. In the database, so every web process and host counts together."""

    key = models.CharField(_("scope and caller"), max_length=200, unique=True)
    window_end = models.BigIntegerField(_("window ends at (Unix time)"), db_index=True)
    hits = models.PositiveIntegerField(_("requests in the window"), default=0)

    class Meta:
        verbose_name = _("throttle window")
        verbose_name_plural = _("throttle windows")

    def __str__(self) -> str:
        return self.key
