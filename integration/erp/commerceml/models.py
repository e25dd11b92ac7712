from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.models import Backend


class CmlExchangeManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=Backend.Kind.ONEC_CML)


class CmlExchange(Backend):
    """The 1C (CommerceML) backends, for the admin page of their exchange settings (a proxy: no table of its own;
    kept in the integration app, whose migrations hold it)."""

    objects = CmlExchangeManager()

    class Meta:
        proxy = True
        app_label = "integration"
        verbose_name = _("1C exchange (CommerceML)")
        verbose_name_plural = _("1C exchanges (CommerceML)")
