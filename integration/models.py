"""Integration machinery: backends, bindings, outbox/inbox, journal, sync runs, conflicts and overrides."""

import time

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .crypto import EncryptedJSONField


class Backend(models.Model):
    """One configured external system: an amoCRM account, a MoySklad account, a 1C base."""

    class Kind(models.TextChoices):
        AMOCRM = "amocrm", _("amoCRM")
        MOYSKLAD = "moysklad", _("MoySklad")
        ONEC_ODATA = "onec_odata", _("1C (OData)")
        ONEC_CML = "onec_cml", _("1C (CommerceML exchange)")  # 1C calls us: integration/erp/commerceml/

    name = models.SlugField(_("name"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    base_url = models.URLField(_("base URL"), max_length=500)
    # Secrets (tokens, passwords, client secrets, the webhook secret) live here, encrypted at rest
    # (integration.crypto), and are never logged or shown in full.
    credentials = EncryptedJSONField(_("credentials"), default=dict, blank=True)
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

    def save(self, *args, **kwargs):
        # A webhook secret is a credential: one put in the settings (seen by operators, kept in history) moves.
        if isinstance(self.settings, dict) and "webhook_secret" in self.settings:
            self.settings = dict(self.settings)
            self.credentials = {**(self.credentials or {}), "webhook_secret": self.settings.pop("webhook_secret")}
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "settings", "credentials"}
        super().save(*args, **kwargs)

    @property
    def webhook_secret(self) -> str:
        return str((self.credentials or {}).get("webhook_secret") or "")


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


class OutboxEvent(models.Model):
    """An outgoing event, written in the business transaction and delivered by the relay."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        IN_FLIGHT = "in_flight", _("in flight")
        DELIVERED = "delivered", _("delivered")
        DEAD = "dead", _("dead letter")
        DISCARDED = "discarded", _("discarded")

    backend = models.ForeignKey(Backend, verbose_name=_("backend"), on_delete=models.PROTECT, related_name="outbox")
    topic = models.CharField(_("topic"), max_length=64)
    aggregate_type = models.CharField(_("aggregate type"), max_length=64)
    aggregate_id = models.CharField(_("aggregate id"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    idempotency_key = models.CharField(_("idempotency key"), max_length=128)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Dead after this many attempts; a replay grants a fresh budget on top of the attempts made.
    max_attempts = models.PositiveIntegerField(_("attempt limit"), default=10)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_owner = models.CharField(_("lease owner"), max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["-id"]
        permissions = [
            ("replay_outboxevent", _("Can replay outbox events")),
            ("discard_outboxevent", _("Can discard outbox events")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["backend", "topic", "idempotency_key"], name="outbox_unique_key"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="outbox_due",
                condition=models.Q(status__in=["pending", "in_flight"]),
            ),
            models.Index(
                fields=["backend", "aggregate_type", "aggregate_id", "id"],
                name="outbox_aggregate_open",
                condition=models.Q(status__in=["pending", "in_flight", "dead"]),
            ),
            # The relay's claim walks open events in id order; without this it filters every delivered row first.
            models.Index(fields=["id"], name="outbox_open_id", condition=models.Q(status__in=["pending", "in_flight"])),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate"),
            models.Index(fields=["status", "-id"], name="outbox_status"),
            # The nightly purge (integration.retention) finds old finished events without a scan.
            models.Index(fields=["updated_at"], name="outbox_done_updated",
                         condition=models.Q(status__in=["delivered", "discarded"])),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.topic} {self.aggregate_type}:{self.aggregate_id} ({self.status})"


class OutboxAttempt(models.Model):
    """One delivery attempt of an outbox event, with its timing and outcome."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("delivered")
        RETRY = "retry", _("will retry")
        DEAD = "dead", _("dead letter")
        LEASE_EXPIRED = "lease_expired", _("lease expired")
        PAUSED = "paused", _("backend paused")

    event = models.ForeignKey(OutboxEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(_("attempt number"))
    worker = models.CharField(_("worker"), max_length=128, blank=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["event", "number", "id"]

    def __str__(self) -> str:
        return f"{self.event_id}#{self.number} {self.outcome}"


class InboxMessage(models.Model):
    """An incoming webhook, stored before anything else happens, then processed by a worker."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSING = "processing", _("processing")
        PROCESSED = "processed", _("processed")
        FAILED = "failed", _("failed, will retry")
        REJECTED = "rejected", _("rejected")

    source = models.CharField(_("source"), max_length=64)
    backend = models.ForeignKey(
        Backend, verbose_name=_("backend"), on_delete=models.SET_NULL, null=True, blank=True, related_name="inbox"
    )
    message_id = models.CharField(_("message id"), max_length=255, blank=True)
    dedup_key = models.CharField(_("deduplication key"), max_length=255)
    body = models.BinaryField(_("body"))
    content_type = models.CharField(_("content type"), max_length=128, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Rejected after this many attempts (a worker killed mid-processing counts); a replay grants a fresh budget.
    max_attempts = models.PositiveIntegerField(_("attempt limit"), default=8)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_owner = models.CharField(_("lease owner"), max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    duplicates = models.PositiveIntegerField(_("duplicates received"), default=0)

    class Meta:
        verbose_name = _("inbox message")
        verbose_name_plural = _("inbox messages")
        ordering = ["-id"]
        permissions = [("replay_inboxmessage", _("Can replay inbox messages"))]
        constraints = [models.UniqueConstraint(fields=["source", "dedup_key"], name="inbox_unique_message")]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="inbox_due",
                condition=models.Q(status__in=["received", "processing", "failed"]),
            ),
            # The nightly purge (integration.retention) finds old handled messages without a scan.
            models.Index(fields=["received_at"], name="inbox_done_received",
                         condition=models.Q(status__in=["processed", "rejected"])),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.source} {self.message_id or self.dedup_key[:12]} ({self.status})"

    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class JournalEntry(models.Model):
    """One HTTP exchange with an external system, in or out; secrets masked, bodies truncated."""

    class Direction(models.TextChoices):
        OUT = "out", _("outgoing")
        IN = "in", _("incoming")

    # No database constraint: entries are written on their own connection, outside the caller's
    # transaction, possibly before a backend created in that transaction is committed.
    backend = models.ForeignKey(
        Backend,
        verbose_name=_("backend"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    method = models.CharField(_("method"), max_length=10)
    url = models.TextField(_("URL"))
    status_code = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    request_headers = models.JSONField(_("request headers"), default=dict, blank=True)
    request_body = models.TextField(_("request body"), blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    error = models.TextField(_("error"), blank=True)
    content_type = models.ForeignKey(
        ContentType,
        verbose_name=_("object type"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("integration journal")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="journal_object")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.method} {self.url[:80]} → {self.status_code or self.error[:40]}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and self.status_code < 400 and not self.error


class SyncRun(models.Model):
    """One run of a sync (catalog, prices, stock, …) for one backend, with its counts."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("manual")
        SCHEDULE = "schedule", _("schedule")
        WEBHOOK = "webhook", _("webhook")

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    backend = models.ForeignKey(Backend, verbose_name=_("backend"), on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(_("kind"), max_length=32)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    full = models.BooleanField(_("full"), default=False)
    dry_run = models.BooleanField(_("dry run"), default=False)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), default=timezone.now)
    host = models.CharField(_("host"), max_length=128, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    error = models.TextField(_("error"), blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "kind"], condition=models.Q(status="running"), name="syncrun_one_running"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} / {self.backend.name} #{self.pk} ({self.status})"

    @property
    def duration(self):
        return (self.finished_at or timezone.now()) - self.started_at

    COUNTERS = ("created", "updated", "unchanged", "skipped", "failed")
    HEARTBEAT_EVERY = 10.0  # seconds between flushes of counts + heartbeat while running

    def add(self, *, created: int = 0, updated: int = 0, unchanged: int = 0, skipped: int = 0, failed: int = 0) -> None:
        """Count processed records; counts and the heartbeat are written every few seconds."""
        for name, value in zip(self.COUNTERS, (created, updated, unchanged, skipped, failed), strict=True):
            setattr(self, name, getattr(self, name) + value)
        if time.monotonic() - getattr(self, "_last_flush", 0.0) > self.HEARTBEAT_EVERY:
            self.heartbeat()

    def note(self, key: str, value) -> None:
        """Attach a detail (a cursor, a page count, …) to the run; written with the next heartbeat."""
        self.details[key] = value

    def heartbeat(self) -> None:
        self.heartbeat_at = timezone.now()
        type(self).objects.filter(pk=self.pk).update(
            heartbeat_at=self.heartbeat_at, details=self.details, **{n: getattr(self, n) for n in self.COUNTERS}
        )
        self._last_flush = time.monotonic()


class Conflict(models.Model):
    """The ERP and the CRM (or an override) disagree about one field of one local object."""

    class Policy(models.TextChoices):
        ERP_WINS = "erp_wins", _("ERP wins")
        CRM_WINS = "crm_wins", _("CRM wins")
        OVERRIDE = "override", _("override kept")
        MANUAL = "manual", _("decided by staff")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        AUTO_RESOLVED = "auto_resolved", _("resolved automatically")
        RESOLVED = "resolved", _("resolved")

    class Resolution(models.TextChoices):
        TAKE_ERP = "take_erp", _("take ERP value")
        TAKE_CRM = "take_crm", _("take CRM value")
        MANUAL = "manual", _("manual value")

    content_type = models.ForeignKey(ContentType, verbose_name=_("object type"), on_delete=models.CASCADE)
    object_id = models.BigIntegerField(_("object id"))
    obj = GenericForeignKey("content_type", "object_id")
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    field = models.CharField(_("field"), max_length=64)
    erp_value = models.JSONField(_("ERP value"), null=True, blank=True, encoder=DjangoJSONEncoder)
    crm_value = models.JSONField(_("CRM value"), null=True, blank=True, encoder=DjangoJSONEncoder)
    policy = models.CharField(_("policy"), max_length=16, choices=Policy.choices, default=Policy.ERP_WINS)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(_("resolution"), max_length=16, choices=Resolution.choices, blank=True)
    manual_value = models.JSONField(_("manual value"), null=True, blank=True, encoder=DjangoJSONEncoder)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("resolved by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(_("reason"), blank=True)
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["occurrences", "last_seen_at"])

    class Meta:
        verbose_name = _("conflict")
        verbose_name_plural = _("conflicts")
        ordering = ["-last_seen_at", "-id"]
        permissions = [("resolve_conflict", _("Can resolve conflicts"))]
        indexes = [
            models.Index(fields=["content_type", "object_id", "field"], name="conflict_object_field"),
            models.Index(fields=["status", "-last_seen_at"], name="conflict_status"),
        ]

    def __str__(self) -> str:
        return f"{self.object_repr or self.object_id}.{self.field}: {self.erp_value!r} ≠ {self.crm_value!r}"


class Override(models.Model):
    """A value pinned by staff on one local field: syncs keep it and record a conflict instead."""

    content_type = models.ForeignKey(ContentType, verbose_name=_("object type"), on_delete=models.CASCADE)
    object_id = models.BigIntegerField(_("object id"))
    obj = GenericForeignKey("content_type", "object_id")
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    field = models.CharField(_("field"), max_length=64)
    value = models.JSONField(_("pinned value"), null=True, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(_("reason"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("override")
        verbose_name_plural = _("overrides")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["content_type", "object_id", "field"], name="override_unique_field"),
        ]

    def __str__(self) -> str:
        return f"{self.object_repr or self.object_id}.{self.field} = {self.value!r}"

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class Progress(models.Model):
    """Live progress of one long piece of work (a sync run, a reconciliation, a pilot rehearsal, an outbox
    drain…): written a few times a second at most, kept with its timeline once the work is over."""

    class Operation(models.TextChoices):
        SYNC = "sync", _("sync")
        RECONCILE = "reconcile", _("reconciliation")
        PILOT = "pilot", _("pilot rehearsal")
        DRAIN = "drain", _("outbox drain")
        REPLAY = "replay", _("bulk replay")
        IMPORT = "import", _("import")

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    class Unit(models.TextChoices):
        RECORDS = "records", _("records")
        PAGES = "pages", _("pages")

    operation = models.CharField(_("operation"), max_length=16, choices=Operation.choices)
    label = models.CharField(_("label"), max_length=200)
    sync_run = models.OneToOneField(
        SyncRun, verbose_name=_("sync run"), on_delete=models.CASCADE, null=True, blank=True, related_name="progress"
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True, help_text=_("e.g. reconcile:12"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    done = models.PositiveBigIntegerField(_("done"), default=0)
    total = models.PositiveBigIntegerField(_("total"), null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices, default=Unit.RECORDS)
    step = models.CharField(_("current step"), max_length=200, blank=True)
    errors = models.PositiveIntegerField(_("errors"), default=0)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    timeline = models.JSONField(_("timeline"), default=list, blank=True)

    class Meta:
        verbose_name = _("progress")
        verbose_name_plural = _("progress")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "-started_at"], name="progress_status")]

    def __str__(self) -> str:
        return f"{self.label} #{self.pk} ({self.status})"
