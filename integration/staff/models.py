"""Rights of the staff layer that belong to no single model (on a table-less holder model), and the stored
reports of the reconciliation (`manage.py reconcile`, its schedule and the «Сверка» page)."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
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
            ("repair_drift", _("Can run the reconciliation with repair")),
            ("run_sync", _("Can run a sync for real from its dry-run diff")),
        ]


class ReconcileRun(models.Model):
    """One reconciliation: what was compared, the drifts found (both values, the likely cause), the repairs."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("manual")
        SCHEDULE = "schedule", _("schedule")
        ADMIN = "admin", _("admin page")

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    MAX_STORED_DRIFTS = 1000  # drift_count keeps the true number

    backend_name = models.CharField(_("backend"), max_length=64, blank=True, help_text=_("Empty: every backend."))
    repair = models.BooleanField(_("with repair"), default=False)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    checked = models.JSONField(_("records compared"), default=dict, blank=True)
    drift_count = models.PositiveIntegerField(_("drifts"), default=0)
    repaired = models.PositiveIntegerField(_("repaired"), default=0)
    drifts = models.JSONField(_("drifts"), default=list, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconcile #{self.pk} {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def open_drifts(self) -> int:
        return self.drift_count - self.repaired


class ReadinessRun(models.Model):
    """One run of the pre-launch checklist («Готовность к запуску»): every check's mark, count and offenders."""

    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("run at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=8)  # pass | warn | fail, acknowledged checks left out
    results = models.JSONField(_("results"), default=list, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("readiness check run")
        verbose_name_plural = _("readiness check runs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"readiness #{self.pk} {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class ReadinessAck(models.Model):
    """Staff accepted a failing pre-launch check as it is: who, when, why, and how many offenders it had then
    (the acknowledgement holds while the count does not grow)."""

    code = models.CharField(_("check"), max_length=32, unique=True)
    count = models.PositiveIntegerField(_("offenders when acknowledged"), default=0)
    note = models.CharField(_("note"), max_length=500, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("acknowledged by"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), default=timezone.now)

    class Meta:
        verbose_name = _("readiness acknowledgement")
        verbose_name_plural = _("readiness acknowledgements")

    def __str__(self) -> str:
        return f"{self.code} ({self.acknowledged_at:%Y-%m-%d %H:%M})"
