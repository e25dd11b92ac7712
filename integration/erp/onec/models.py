from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.models import Backend


class OneCBaseManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=Backend.Kind.ONEC_ODATA)


class OneCBase(Backend):
    """The 1C backends, for the admin page with «Check connection» (a proxy: no table of its own)."""

    objects = OneCBaseManager()

    class Meta:
        proxy = True
        verbose_name = _("1C base")
        verbose_name_plural = _("1C bases")
