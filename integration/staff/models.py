"""Rights of the staff layer that belong to no single model: they hang off a table-less holder model."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffRights(models.Model):
    """Holds the custom permissions of the staff layer (no table)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("staff right")
        verbose_name_plural = _("staff rights")
        permissions = [
            ("pause_backend", _("Can pause and resume a backend (kill switch)")),
            ("run_dry_run", _("Can run a sync as a dry run")),
            ("view_credentials", _("Can see and change backend credentials")),
        ]
