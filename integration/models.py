"""Integration machinery: backends and bindings (more models are added by the integration core)."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Backend(models.Model):
    """One configured external system: an amoCRM account, a MoySklad account, a 1C base."""

    class Kind(models.TextChoices):
        AMOCRM = "amocrm", _("amoCRM")
        MOYSKLAD = "moysklad", _("MoySklad")
        ONEC_ODATA = "onec_odata", _("1C (OData)")
        COMMERCEML = "commerceml", _("CommerceML")

    name = models.SlugField(_("name"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    base_url = models.URLField(_("base URL"), max_length=500)
    # Secrets (tokens, passwords, client secrets) live here and are never logged or shown in full.
    credentials = models.JSONField(_("credentials"), default=dict, blank=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    cursors = models.JSONField(_("sync cursors"), default=dict, blank=True)
    paused = models.BooleanField(_("paused"), default=False)
    paused_reason = models.CharField(_("pause reason"), max_length=500, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["credentials", "cursors"])

    class Meta:
        verbose_name = _("backend")
        verbose_name_plural = _("backends")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Binding(models.Model):
    """(backend, external id) ↔ one local row, with the remote version and a content hash."""

    backend = models.ForeignKey(Backend, verbose_name=_("backend"), on_delete=models.CASCADE, related_name="bindings")
    content_type = models.ForeignKey(ContentType, verbose_name=_("object type"), on_delete=models.CASCADE)
    object_id = models.BigIntegerField(_("object id"))
    local = GenericForeignKey("content_type", "object_id")
    external_id = models.CharField(_("external id"), max_length=128)
    remote_version = models.CharField(_("remote version"), max_length=64, blank=True)
    remote_updated_at = models.DateTimeField(_("remote updated at"), null=True, blank=True)
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("binding")
        verbose_name_plural = _("bindings")
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "content_type", "external_id"], name="binding_unique_external"
            ),
            models.UniqueConstraint(fields=["backend", "content_type", "object_id"], name="binding_unique_local"),
        ]

    def __str__(self) -> str:
        return f"{self.backend.name}:{self.external_id} → {self.content_type.model}#{self.object_id}"
