"""Admin of the integration core, for integration staff: backends, bindings, outbox, inbox, journal,
sync runs, conflicts and overrides."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Exists, OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from . import inbox, outbox, replays
from .amocrm.forms import MANAGED_SETTINGS
from .backends import pause_backend, resume_backend
from .conflicts import resolve_conflict
from .errors import ConflictAlreadyResolved
from .journal import journal_url_for
from .models import (
    Backend,
    Binding,
    Conflict,
    InboxMessage,
    JournalEntry,
    OutboxAttempt,
    OutboxEvent,
    Override,
    Progress,
    SyncRun,
)
from .overrides import model_field, pin_value
from .secrets import mask_secret, redact_text
from .staff.bigtables import BigTableAdminMixin
from .staff.bodies import body_block
from .staff.permissions import CredentialsHiddenMixin, can_pause_backends, can_see_credentials

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def pretty_json(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2, cls=DjangoJSONEncoder))


def short(text: str, length: int = 80) -> str:
    return Truncator(text or "").chars(length)


def admin_link(obj) -> str:
    """A link to the admin change page of any object (text only when it has no admin)."""
    if obj is None:
        return "—"
    meta = obj._meta
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except Exception:  # noqa: BLE001 - model without an admin
        return str(obj)
    return format_html('<a href="{}">{}</a>', url, obj)


def generic_link(content_type: ContentType | None, object_id, label: str = "") -> str:
    if content_type is None or not object_id:
        return "—"
    try:
        url = reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=[object_id])
    except Exception:  # noqa: BLE001 - model without an admin
        return label or f"{content_type.model} #{object_id}"
    return format_html('<a href="{}">{}</a>', url, label or f"{content_type.model} #{object_id}")


# --- links other apps' admins use -------------------------------------------------------------------


def journal_link(obj) -> str:
    """"Exchanges of this object (N)" → the journal list filtered to `obj`."""
    if obj is None or obj.pk is None:
        return "—"
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    count = JournalEntry.objects.filter(content_type=content_type, object_id=str(obj.pk)).count()
    return format_html('<a href="{}">{}</a>', journal_url_for(obj), _("Exchanges of this object (%(count)s)") % {"count": count})


def conflicts_link(obj) -> str:
    if obj is None or obj.pk is None:
        return "—"
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    count = Conflict.objects.filter(content_type=content_type, object_id=obj.pk).exclude(status=Conflict.Status.RESOLVED).count()
    url = f"{reverse('admin:integration_conflict_changelist')}?content_type__id__exact={content_type.pk}&object_id={obj.pk}"
    return format_html('<a href="{}">{}</a>', url, _("Unresolved conflicts (%(count)s)") % {"count": count})


class JournalLinkMixin:
    """ModelAdmin mixin: read-only fields `integration_exchanges` and `integration_conflicts` linking to the
    journal and the conflicts of the object (add them to your fieldsets if you declare fieldsets)."""

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "integration_exchanges", "integration_conflicts")

    @admin.display(description=_("integration exchanges"))
    def integration_exchanges(self, obj):
        return journal_link(obj)

    @admin.display(description=_("integration conflicts"))
    def integration_conflicts(self, obj):
        return conflicts_link(obj)


# --- backends ------------------------------------------------------------------------------------------


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value back (a secret typed in stays out of the page, even after a form error)."""

    def format_value(self, value):
        return ""


class BackendForm(forms.ModelForm):
    base_url = forms.URLField(label=_("base URL"), max_length=500, assume_scheme="https")
    credentials_update = forms.JSONField(
        label=_("change credentials"),
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_(
            'Write-only. A JSON object merged into the stored credentials, e.g. {"token": "…"}; '
            "null removes a key. Leave empty to keep them unchanged."
        ),
    )

    class Meta:
        model = Backend
        exclude = ["credentials", "cursors"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        managed = self.managed_keys()
        if managed and isinstance(self.initial.get("settings"), dict):
            self.initial["settings"] = {k: v for k, v in self.initial["settings"].items() if k not in managed}
            self.fields["settings"].help_text = _(
                "JSON. The stage mapping, the pipeline and the catalog scope are set on the amoCRM settings page "
                "(link above) and kept as they are.")

    def managed_keys(self) -> tuple[str, ...]:
        """Settings edited on their own page, left out of the raw JSON (amoCRM: stages, catalog scope)."""
        return MANAGED_SETTINGS if self.instance.pk and self.instance.kind == Backend.Kind.AMOCRM else ()

    def clean_settings(self):
        value = self.cleaned_data.get("settings")
        if isinstance(value, dict) and "webhook_secret" in value:
            raise ValidationError(_("The webhook secret is a credential: change it under «change credentials»."))
        managed = self.managed_keys()
        if not managed:
            return value
        if not isinstance(value, dict):
            raise ValidationError(_("Settings must be a JSON object."))
        present = sorted(set(value) & set(managed))
        if present:
            raise ValidationError(_("Set %(keys)s on the amoCRM settings page, not here.") % {"keys": ", ".join(present)})
        stored = Backend.objects.filter(pk=self.instance.pk).values_list("settings", flat=True).first() or {}
        return {**value, **{key: stored[key] for key in managed if key in stored}}

    def clean_credentials_update(self):
        value = self.cleaned_data.get("credentials_update")
        if value in (None, "", {}):
            return {}
        if not isinstance(value, dict):
            raise ValidationError(_("Credentials must be a JSON object of name → value."))
        for key, item in value.items():
            if item is not None and not isinstance(item, str | int | float | bool):
                raise ValidationError(_("Credential %(key)s: the value must be text, a number or null.") % {"key": key})
        return value


@admin.register(Backend)
class BackendAdmin(CredentialsHiddenMixin, SimpleHistoryAdmin):
    form = BackendForm
    list_display = ["name", "kind", "base_url", "active", "paused", "dry_run", "credentials_masked", "outbox_open", "updated_at"]
    list_filter = ["kind", "active", "paused", "dry_run"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["credentials_masked", "cursors_display", "amocrm_settings", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "base_url", "active"]}),
        (_("State"), {"fields": ["paused", "paused_reason", "dry_run"]}),
        (_("Credentials"), {"fields": ["credentials_masked", "credentials_update"]}),
        (_("Settings"), {"fields": ["amocrm_settings", "settings"]}),
        (_("Sync cursors"), {"fields": ["cursors_display", "created_at", "updated_at"]}),
    ]
    actions = ["pause_selected", "resume_selected", "enable_dry_run", "disable_dry_run", "subscribe_erp_webhooks"]

    @admin.display(description=_("credentials"))
    def credentials_masked(self, obj):
        if not obj.credentials:
            return "—"
        return ", ".join(f"{key}: {mask_secret(value)}" for key, value in sorted(obj.credentials.items()))

    @admin.display(description=_("stages and catalog"))
    def amocrm_settings(self, obj):
        if obj is None or obj.pk is None or obj.kind != Backend.Kind.AMOCRM:
            return "—"
        url = reverse("admin:amocrm_backend_settings", args=[obj.pk])
        return format_html('<a href="{}" id="amocrm-settings-link">{}</a>', url,
                           _("Deal stages by ERP event, amoCRM catalog scope…"))

    @admin.display(description=_("sync cursors"))
    def cursors_display(self, obj):
        return pretty_json(obj.cursors) if obj.cursors else "—"

    @admin.display(description=_("outbox: undelivered"))
    def outbox_open(self, obj):
        count = obj.outbox.filter(status__in=outbox.OPEN_STATUSES).count()
        url = f"{reverse('admin:integration_outboxevent_changelist')}?backend__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, count)

    def save_model(self, request, obj, form, change):
        update = form.cleaned_data.get("credentials_update") or {}
        if update:
            credentials = dict(obj.credentials or {})
            for key, value in update.items():
                if value is None:
                    credentials.pop(key, None)
                else:
                    credentials[key] = value
            obj.credentials = credentials
        super().save_model(request, obj, form, change)

    def has_pause_permission(self, request):
        return can_pause_backends(request.user) or request.user.has_perm("integration.change_backend")

    @admin.action(description=_("Pause selected backends (traffic is held)"), permissions=["pause"])
    def pause_selected(self, request, queryset):
        for backend in queryset:
            pause_backend(backend, reason=str(_("paused by %(user)s in the admin") % {"user": request.user}), user=request.user)
        self.message_user(request, _("Paused: %(count)s") % {"count": queryset.count()}, messages.SUCCESS)

    @admin.action(description=_("Resume selected backends"), permissions=["pause"])
    def resume_selected(self, request, queryset):
        for backend in queryset:
            resume_backend(backend, user=request.user)
        self.message_user(request, _("Resumed: %(count)s") % {"count": queryset.count()}, messages.SUCCESS)

    @admin.action(description=_("Turn dry run on"), permissions=["change"])
    def enable_dry_run(self, request, queryset):
        self._set_dry_run(request, queryset, True)

    @admin.action(description=_("Turn dry run off"), permissions=["change"])
    def disable_dry_run(self, request, queryset):
        self._set_dry_run(request, queryset, False)

    def has_subscribe_webhooks_permission(self, request):
        return can_see_credentials(request.user) and request.user.has_perm("integration.change_backend")

    @admin.action(description=_("Subscribe ERP webhooks"), permissions=["subscribe_webhooks"])
    def subscribe_erp_webhooks(self, request, queryset):
        from integration import connectors
        from integration.errors import IntegrationError

        for backend in queryset:
            subscribe_webhooks = (connectors.connector(backend.kind).subscribe_webhooks
                                  if backend.kind in connectors.kinds() else None)
            if subscribe_webhooks is None:
                self.message_user(request, _("%(backend)s: webhooks are subscribed for MoySklad backends only")
                                  % {"backend": backend.name}, messages.WARNING)
                continue
            try:
                result = subscribe_webhooks(backend)
            except IntegrationError as exc:
                self.message_user(request, _("%(backend)s: webhooks not subscribed: %(error)s")
                                  % {"backend": backend.name, "error": exc}, messages.ERROR)
                continue
            self.message_user(request, _(
                "%(backend)s: %(url)s — created %(created)s, updated %(updated)s, removed %(removed)s, "
                "unchanged %(unchanged)s. Subscribed: %(topics)s"
            ) % {"backend": backend.name, "url": result.url, "created": len(result.created),
                 "updated": len(result.updated), "removed": len(result.removed),
                 "unchanged": len(result.unchanged),
                 "topics": ", ".join(s.topic + ("" if s.enabled else " (disabled)") for s in result.subscribed)},
                messages.SUCCESS)

    def _set_dry_run(self, request, queryset, value: bool):
        for backend in queryset:
            backend.dry_run = value
            backend._history_user = request.user
            backend.save(update_fields=["dry_run", "updated_at"])
        self.message_user(request, _("Updated: %(count)s") % {"count": queryset.count()}, messages.SUCCESS)


# --- bindings ------------------------------------------------------------------------------------------


@admin.register(Binding)
class BindingAdmin(admin.ModelAdmin):
    list_display = ["external_id", "backend", "content_type", "local_object", "remote_version", "remote_updated_at", "synced_at"]
    list_filter = ["backend", "content_type"]
    search_fields = ["external_id", "object_id"]
    list_select_related = ["backend", "content_type"]
    readonly_fields = [f.name for f in Binding._meta.fields] + ["local_object"]

    @admin.display(description=_("local object"))
    def local_object(self, obj):
        return generic_link(obj.content_type, obj.object_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- outbox --------------------------------------------------------------------------------------------


class BlockedFilter(admin.SimpleListFilter):
    title = _("held back")
    parameter_name = "blocked"

    def lookups(self, request, model_admin):
        return [("dead", _("by a dead earlier event"))]

    def queryset(self, request, queryset):
        if self.value() != "dead":
            return queryset
        earlier_dead = OutboxEvent.objects.filter(
            backend_id=OuterRef("backend_id"),
            aggregate_type=OuterRef("aggregate_type"),
            aggregate_id=OuterRef("aggregate_id"),
            id__lt=OuterRef("id"),
            status=OutboxEvent.Status.DEAD,
        )
        return queryset.filter(status=OutboxEvent.Status.PENDING).filter(Exists(earlier_dead))


class OutboxAttemptInline(admin.TabularInline):
    model = OutboxAttempt
    extra = 0
    can_delete = False
    fields = ["number", "outcome", "worker", "started_at", "duration_ms", "error"]
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False


STATUS_COLOURS = {
    "pending": "#8a6d3b",
    "in_flight": "#31708f",
    "delivered": "#3c763d",
    "dead": "#a94442",
    "discarded": "#777",
    "received": "#8a6d3b",
    "processing": "#31708f",
    "processed": "#3c763d",
    "failed": "#8a6d3b",
    "rejected": "#a94442",
    "running": "#31708f",
    "succeeded": "#3c763d",
    "open": "#a94442",
    "auto_resolved": "#777",
    "resolved": "#3c763d",
}


def replay_in_background(model_admin, request, queryset, kind: str):
    """More than one batch selected: replay in the background and show its live progress (None: do it now)."""
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    if len(ids) <= replays.batch_size():
        return None
    label = _("bulk replay of %(count)s %(what)s by %(user)s") % {
        "count": len(ids), "what": model_admin.model._meta.verbose_name_plural, "user": request.user}
    record = replays.start_bulk_replay(kind, ids, label=str(label))
    model_admin.message_user(request, _("Replaying %(count)s in the background: the progress is below.")
                             % {"count": len(ids)}, messages.INFO)
    return HttpResponseRedirect(reverse("staff:progress", args=[record.pk]))


def badge(obj) -> str:
    return format_html('<b style="color:{}">{}</b>', STATUS_COLOURS.get(obj.status, "#333"), obj.get_status_display())


class TopicFilter(admin.SimpleListFilter):
    """The topics of the last day's events and of those still open or dead (index ranges), not a DISTINCT over
    every event ever (40 ms at 200k events, growing with the table)."""

    title = _("topic")
    parameter_name = "topic"

    def lookups(self, request, model_admin):
        recent = OutboxEvent.objects.filter(created_at__gte=timezone.now() - timedelta(days=1))
        unfinished = OutboxEvent.objects.filter(status__in=outbox.OPEN_STATUSES)
        topics = {*recent.values_list("topic", flat=True).order_by().distinct(),
                  *unfinished.values_list("topic", flat=True).order_by().distinct()}
        if self.value():
            topics.add(self.value())
        return [(topic, topic) for topic in sorted(topics)]

    def queryset(self, request, queryset):
        return queryset.filter(topic=self.value()) if self.value() else queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = ["id", "topic", "backend", "aggregate", "status_badge", "attempts", "next_attempt_at", "blocked_by", "error_short", "created_at"]
    list_filter = ["status", "backend", TopicFilter, BlockedFilter]
    # The exact aggregate id (ILIKE '%q%' on id, key and topic cost 100+ ms a query at 200k events, three queries
    # a page; an equality scan is a fifth of that, and no index is added to the outbox's hot path). The topic is
    # a filter.
    search_fields = ["aggregate_id__exact"]
    list_select_related = ["backend"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "backend", "topic", "aggregate_type", "aggregate_id", "idempotency_key", "status", "blocked_by", "attempts",
        "max_attempts", "next_attempt_at", "lease_owner", "lease_expires_at", "payload_display", "result_display",
        "last_error", "created_at", "delivered_at", "updated_at",
    ]
    fields = readonly_fields
    inlines = [OutboxAttemptInline]
    actions = ["replay_selected", "discard_selected"]
    change_form_template = "admin/integration/outboxevent/change_form.html"

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj)

    @admin.display(description=_("aggregate"))
    def aggregate(self, obj):
        return f"{obj.aggregate_type}:{obj.aggregate_id}"

    def get_queryset(self, request):
        head = OutboxEvent.objects.filter(
            backend_id=OuterRef("backend_id"),
            aggregate_type=OuterRef("aggregate_type"),
            aggregate_id=OuterRef("aggregate_id"),
            id__lt=OuterRef("id"),
            status__in=outbox.OPEN_STATUSES,
        ).order_by("id")
        return (
            super()
            .get_queryset(request)
            .annotate(blocking_id=Subquery(head.values("id")[:1]), blocking_status=Subquery(head.values("status")[:1]))
        )

    @admin.display(description=_("held back by"))
    def blocked_by(self, obj):
        if obj.status != OutboxEvent.Status.PENDING or not getattr(obj, "blocking_id", None):
            return "—"
        url = reverse("admin:integration_outboxevent_change", args=[obj.blocking_id])
        return format_html('<a href="{}">#{} ({})</a>', url, obj.blocking_id, OutboxEvent.Status(obj.blocking_status).label)

    @admin.display(description=_("last error"))
    def error_short(self, obj):
        return short(obj.last_error)

    @admin.display(description=_("payload"))
    def payload_display(self, obj):
        return pretty_json(obj.payload)

    @admin.display(description=_("result"))
    def result_display(self, obj):
        return pretty_json(obj.result) if obj.result is not None else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return request.user.has_perm("integration.replay_outboxevent")

    def has_discard_permission(self, request):
        return request.user.has_perm("integration.discard_outboxevent")

    @admin.action(description=_("Replay selected events"), permissions=["replay"])
    def replay_selected(self, request, queryset):
        background = replay_in_background(self, request, queryset, "outbox")
        if background is not None:
            return background
        count = outbox.replay(list(queryset))
        self.message_user(request, ngettext("%(count)d event queued again.", "%(count)d events queued again.", count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Discard selected events"), permissions=["discard"])
    def discard_selected(self, request, queryset):
        count = outbox.discard(list(queryset), reason=str(_("discarded by %(user)s in the admin") % {"user": request.user}))
        self.message_user(request, ngettext("%(count)d event discarded.", "%(count)d events discarded.", count) % {"count": count}, messages.SUCCESS)

    def get_urls(self):
        return [
            path("<int:pk>/replay/", self.admin_site.admin_view(self.replay_one), name="integration_outboxevent_replay"),
            path("<int:pk>/discard/", self.admin_site.admin_view(self.discard_one), name="integration_outboxevent_discard"),
            *super().get_urls(),
        ]

    def _one(self, request, pk, allowed: bool, action):
        if not allowed:
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        event = get_object_or_404(OutboxEvent, pk=pk)
        done = action(event)
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, _("Done.") if done else _("Nothing to do for this event in its current state."), level)
        return HttpResponseRedirect(reverse("admin:integration_outboxevent_change", args=[pk]))

    def replay_one(self, request, pk):
        return self._one(request, pk, self.has_replay_permission(request), lambda e: outbox.replay([e]))

    def discard_one(self, request, pk):
        reason = str(_("discarded by %(user)s in the admin") % {"user": request.user})
        return self._one(request, pk, self.has_discard_permission(request), lambda e: outbox.discard([e], reason=reason))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_replay": self.has_replay_permission(request),
            "can_discard": self.has_discard_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)


# --- inbox ---------------------------------------------------------------------------------------------


@admin.register(InboxMessage)
class InboxMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "backend", "message_id", "status_badge", "attempts", "duplicates", "received_at", "processed_at", "error_short"]
    list_filter = ["status", "source", "backend"]
    search_fields = ["message_id", "dedup_key"]
    list_select_related = ["backend"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "source", "backend", "message_id", "dedup_key", "status", "attempts", "duplicates", "next_attempt_at",
        "lease_owner", "lease_expires_at", "content_type", "headers_display", "body_display", "error",
        "received_at", "processed_at",
    ]
    fields = readonly_fields
    actions = ["replay_selected"]

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj)

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return short(obj.error)

    @admin.display(description=_("headers"))
    def headers_display(self, obj):
        return pretty_json(obj.headers)

    @admin.display(description=_("body"))
    def body_display(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", short(redact_text(obj.body_text()), 20000))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return request.user.has_perm("integration.replay_inboxmessage")

    @admin.action(description=_("Process selected messages again"), permissions=["replay"])
    def replay_selected(self, request, queryset):
        background = replay_in_background(self, request, queryset, "inbox")
        if background is not None:
            return background
        count = inbox.replay(list(queryset))
        self.message_user(request, ngettext("%(count)d message queued again.", "%(count)d messages queued again.", count) % {"count": count}, messages.SUCCESS)


# --- journal -------------------------------------------------------------------------------------------


class StatusClassFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("2xx", _("success (2xx/3xx)")), ("4xx", _("refused (4xx)")), ("5xx", _("server error (5xx)")), ("error", _("network error"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "2xx":
            return queryset.filter(status_code__lt=400, status_code__isnull=False)
        if value == "4xx":
            return queryset.filter(status_code__gte=400, status_code__lt=500)
        if value == "5xx":
            return queryset.filter(status_code__gte=500)
        if value == "error":
            return queryset.filter(status_code__isnull=True)
        return queryset


class MethodFilter(admin.SimpleListFilter):
    """The HTTP methods we use, listed without a DISTINCT over the whole journal (300 ms at 1M entries)."""

    title = _("method")
    parameter_name = "method"  # as Django's filter on the field named it: bookmarks keep working

    def lookups(self, request, model_admin):
        return [(method, method) for method in HTTP_METHODS]

    def queryset(self, request, queryset):
        return queryset.filter(method=self.value()) if self.value() else queryset


@admin.register(JournalEntry)
class JournalEntryAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "backend", "direction", "method", "url_short", "status_code", "duration_ms", "correlated"]
    list_filter = ["direction", StatusClassFilter, "backend", MethodFilter, "content_type"]
    search_fields = ["url", "object_repr", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["backend", "content_type"]
    readonly_fields = [
        "created_at", "backend", "direction", "method", "url", "status_code", "duration_ms", "correlated", "error",
        "request_headers_display", "request_body_display", "response_headers_display", "response_body_display",
    ]
    fields = readonly_fields

    def lookup_allowed(self, lookup, value, request=None):
        # The "exchanges of this object" links filter by object id.
        if lookup in ("object_id", "content_type__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("URL"))
    def url_short(self, obj):
        return short(obj.url, 90)

    @admin.display(description=_("object"))
    def correlated(self, obj):
        return generic_link(obj.content_type, obj.object_id, obj.object_repr)

    @admin.display(description=_("request headers"))
    def request_headers_display(self, obj):
        return pretty_json(obj.request_headers)

    @admin.display(description=_("response headers"))
    def response_headers_display(self, obj):
        return pretty_json(obj.response_headers)

    @admin.display(description=_("request body"))
    def request_body_display(self, obj):
        return body_block(obj.request_body)

    @admin.display(description=_("response body"))
    def response_body_display(self, obj):
        return body_block(obj.response_body)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- sync runs -----------------------------------------------------------------------------------------


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "backend", "trigger", "status_badge", "started_at", "duration_display", "created", "updated", "unchanged", "skipped", "failed", "error_short"]
    list_filter = ["kind", "status", "trigger", "backend", "dry_run"]
    search_fields = ["kind", "backend__name", "error"]
    list_select_related = ["backend"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "kind", "backend", "trigger", "status", "full", "dry_run", "started_at", "finished_at", "heartbeat_at",
        "duration_display", "host", "pid", "created", "updated", "unchanged", "skipped", "failed", "error", "details_display",
        "progress_link",
    ]
    fields = readonly_fields

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj)

    @admin.display(description=_("progress"))
    def progress_link(self, obj):
        progress = Progress.objects.filter(sync_run=obj).values_list("pk", flat=True).first()
        if progress is None:
            return "—"
        return format_html('<a href="{}" id="sync-run-progress">{}</a>', reverse("staff:progress", args=[progress]),
                           _("progress and timeline"))

    @admin.display(description=_("duration"))
    def duration_display(self, obj):
        return f"{obj.duration.total_seconds():.1f} s"

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return short(obj.error)

    @admin.display(description=_("details"))
    def details_display(self, obj):
        return pretty_json(obj.details) if obj.details else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- conflicts and overrides ---------------------------------------------------------------------------


class ResolveForm(forms.Form):
    choice = forms.ChoiceField(label=_("resolution"), choices=Conflict.Resolution.choices, widget=forms.RadioSelect)
    value = forms.CharField(label=_("manual value"), required=False, help_text=_("Only for a manual value."))
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if data.get("choice") == Conflict.Resolution.MANUAL and not data.get("value"):
            self.add_error("value", _("A manual resolution needs a value."))
        return data


@admin.register(Conflict)
class ConflictAdmin(SimpleHistoryAdmin):
    list_display = ["id", "object_link", "field", "erp_value", "crm_value", "policy", "status_badge", "resolution", "occurrences", "last_seen_at", "resolved_by"]
    list_filter = ["status", "policy", "resolution", "content_type"]
    search_fields = ["object_repr", "field"]
    list_select_related = ["content_type", "resolved_by"]
    date_hierarchy = "last_seen_at"
    readonly_fields = [
        "object_link", "content_type", "object_id", "field", "erp_value", "crm_value", "policy", "status", "resolution",
        "manual_value", "resolved_by", "resolved_at", "reason", "occurrences", "created_at", "last_seen_at",
    ]
    fields = readonly_fields
    actions = ["take_erp", "take_crm", "take_manual"]
    change_form_template = "admin/integration/conflict/change_form.html"

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in ("object_id", "content_type__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("object"))
    def object_link(self, obj):
        return generic_link(obj.content_type, obj.object_id, obj.object_repr)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resolve_permission(self, request):
        return request.user.has_perm("integration.resolve_conflict")

    @admin.action(description=_("Resolve: take the ERP value"), permissions=["resolve"])
    def take_erp(self, request, queryset):
        return self._resolve_bulk(request, queryset, Conflict.Resolution.TAKE_ERP)

    @admin.action(description=_("Resolve: take the CRM value"), permissions=["resolve"])
    def take_crm(self, request, queryset):
        return self._resolve_bulk(request, queryset, Conflict.Resolution.TAKE_CRM)

    @admin.action(description=_("Resolve: set a manual value"), permissions=["resolve"])
    def take_manual(self, request, queryset):
        return self._resolve_bulk(request, queryset, Conflict.Resolution.MANUAL)

    def _resolve_bulk(self, request, queryset, choice):
        """Step 1 shows the reason form; step 2 (the form posted back with `apply`) resolves."""
        form = ResolveForm(request.POST if "apply" in request.POST else None, initial={"choice": choice})
        if "apply" in request.POST and form.is_valid():
            done, failed = self._apply(request, queryset, form.cleaned_data)
            if done:
                self.message_user(request, ngettext("%(count)d conflict resolved.", "%(count)d conflicts resolved.", done) % {"count": done}, messages.SUCCESS)
            for conflict, error in failed:
                self.message_user(request, _("Conflict #%(id)s: %(error)s") % {"id": conflict.pk, "error": error}, messages.ERROR)
            return None
        return TemplateResponse(
            request,
            "admin/integration/conflict/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Resolve conflicts"),
                "form": form,
                "conflicts": queryset,
                "action": request.POST.get("action", ""),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    def _apply(self, request, conflicts, data):
        done, failed = 0, []
        for conflict in conflicts:
            try:
                resolve_conflict(conflict, data["choice"], user=request.user, value=data.get("value") or None, reason=data["reason"])
                done += 1
            except (ValidationError, ConflictAlreadyResolved) as exc:
                failed.append((conflict, "; ".join(getattr(exc, "messages", [str(exc)]))))
        return done, failed

    def get_urls(self):
        return [
            path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_one), name="integration_conflict_resolve"),
            *super().get_urls(),
        ]

    def resolve_one(self, request, pk):
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        conflict = get_object_or_404(Conflict, pk=pk)
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done, failed = self._apply(request, [conflict], form.cleaned_data)
            if done:
                self.message_user(request, _("Conflict resolved."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:integration_conflict_change", args=[pk]))
            for _conflict, error in failed:
                form.add_error(None, error)
        return TemplateResponse(
            request,
            "admin/integration/conflict/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Resolve conflict #%(id)s") % {"id": pk},
                "form": form,
                "conflicts": [conflict],
                "single": True,
                "opts": self.model._meta,
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_resolve": self.has_resolve_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)


OVERRIDABLE_APPS = ("catalog", "counterparties", "orders", "documents")


class OverrideForm(forms.ModelForm):
    value = forms.JSONField(label=_("pinned value"), help_text=_('JSON: "text", 12.50, true, null; an id for a reference.'))

    class Meta:
        model = Override
        fields = ["content_type", "object_id", "field", "value", "reason", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "content_type" in self.fields:  # a view-only user's form has no fields
            self.fields["content_type"].queryset = ContentType.objects.filter(
                app_label__in=OVERRIDABLE_APPS).order_by("app_label", "model")

    def clean(self):
        data = super().clean()
        content_type, object_id, field = data.get("content_type"), data.get("object_id"), data.get("field")
        if not (content_type and object_id and field):
            return data
        model = content_type.model_class()
        target = model._default_manager.filter(pk=object_id).first() if model else None
        if target is None:
            self.add_error("object_id", _("No %(model)s with id %(id)s.") % {"model": content_type, "id": object_id})
            return data
        try:
            model_field(target, field).clean(data.get("value"), target)
        except ValidationError as exc:
            self.add_error("value" if "field" not in getattr(exc, "error_dict", {}) else "field", exc.messages)
        if data.get("expires_at") and data["expires_at"] <= timezone.now():
            self.add_error("expires_at", _("The expiry must be in the future."))
        self.target = target
        return data


class ActiveOverrideFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("active")), ("expired", _("expired"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.exclude(expires_at__lte=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(Override)
class OverrideAdmin(SimpleHistoryAdmin):
    form = OverrideForm
    list_display = ["object_link", "field", "value", "reason_short", "author", "created_at", "expires_at", "state"]
    list_filter = [ActiveOverrideFilter, "content_type", "field"]
    search_fields = ["object_repr", "field", "reason"]
    list_select_related = ["content_type", "author"]
    readonly_fields = ["author", "created_at", "object_link"]

    @admin.display(description=_("object"))
    def object_link(self, obj):
        return generic_link(obj.content_type, obj.object_id, obj.object_repr) if obj.pk else "—"

    @admin.display(description=_("reason"))
    def reason_short(self, obj):
        return short(obj.reason, 60)

    @admin.display(description=_("state"))
    def state(self, obj):
        return _("active") if obj.is_active else _("expired")

    def get_changeform_initial_data(self, request):
        """The "pin a value" links of mirrored pages fill the form in; their value is JSON."""
        initial = super().get_changeform_initial_data(request)
        initial.pop("return_to", None)
        if "value" in initial:
            try:
                initial["value"] = json.loads(initial["value"])
            except ValueError:
                pass  # shown as typed; the form says what is wrong with it
        return initial

    def _return_to(self, request):
        target = request.GET.get("return_to", "")
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            return HttpResponseRedirect(target)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        back = self._return_to(request) if "_continue" not in request.POST and "_addanother" not in request.POST else None
        if back is not None:
            self.message_user(request, _("Pinned %(field)s on %(object)s: the syncs keep this value.")
                              % {"field": obj.field, "object": obj.object_repr}, messages.SUCCESS)
            return back
        return super().response_add(request, obj, post_url_continue)

    def save_model(self, request, obj, form, change):
        pinned = pin_value(
            form.target,
            form.cleaned_data["field"],
            form.cleaned_data["value"],
            author=request.user,
            reason=form.cleaned_data["reason"],
            expires_at=form.cleaned_data.get("expires_at"),
        )
        obj.pk = pinned.pk
        obj._state.adding = False
        obj.refresh_from_db()

