"""Alert rules (thresholds staff edit), where messages go, the incidents the rules found and every message sent."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integration.crypto import EncryptedJSONField


class Rule(models.Model):
    """One alert rule; its key names the check in `rules.py`, its threshold's unit is the check's."""

    key = models.SlugField(_("rule"), max_length=32, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    threshold = models.PositiveIntegerField(_("threshold"))
    remind_minutes = models.PositiveIntegerField(
        _("remind every, minutes"), default=240, help_text=_("A reminder while the incident lasts; 0: never.")
    )

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class AlertSettings(models.Model):
    """Where alert messages go (one row). The Telegram bot token is encrypted at rest and never shown in full."""

    email_enabled = models.BooleanField(_("send e-mail"), default=False)
    email_recipients = models.TextField(
        _("e-mail recipients"), blank=True, help_text=_("Addresses separated by commas or new lines.")
    )
    telegram_enabled = models.BooleanField(_("send to Telegram"), default=False)
    telegram_chat_id = models.CharField(_("Telegram chat id"), max_length=64, blank=True)
    secrets = EncryptedJSONField(_("secrets"), default=dict, blank=True)

    class Meta:
        verbose_name = _("alert channels")
        verbose_name_plural = _("alert channels")

    def __str__(self) -> str:
        return str(_("Alert channels"))

    @classmethod
    def load(cls) -> "AlertSettings":
        return cls.objects.order_by("pk").first() or cls.objects.create()

    @property
    def telegram_token(self) -> str:
        return (self.secrets or {}).get("telegram_token", "")

    def recipients(self) -> list[str]:
        return [a.strip() for a in self.email_recipients.replace("\n", ",").split(",") if a.strip()]


class Incident(models.Model):
    """A rule found something (for one subject: a backend, a sync); open until the rule no longer finds it."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        RESOLVED = "resolved", _("resolved")

    rule = models.CharField(_("rule"), max_length=32)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    level = models.CharField(_("level"), max_length=8, default="error")
    message = models.TextField(_("message"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)
    last_notified_at = models.DateTimeField(_("last notified at"), null=True, blank=True)
    reminders = models.PositiveIntegerField(_("reminders sent"), default=0)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents (alert history)")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject"], condition=models.Q(status="open"),
                                    name="alerts_one_open_incident"),
        ]
        indexes = [models.Index(fields=["status", "-opened_at"], name="alerts_incident_status")]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject} ({self.status})"


class Notification(models.Model):
    """One message sent (or tried) on one channel."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("new incident")
        REMINDER = "reminder", _("reminder")
        RESOLVED = "resolved", _("resolved")
        TEST = "test", _("test")

    incident = models.ForeignKey(Incident, verbose_name=_("incident"), on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=16)
    text = models.TextField(_("text"))
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)
    ok = models.BooleanField(_("delivered"), default=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("alert message")
        verbose_name_plural = _("alert messages")
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} at {self.sent_at:%Y-%m-%d %H:%M}"
