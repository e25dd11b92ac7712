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
